"""The train stage: one preference-training run per loss through CAPOTrainer, resumable.

    trainer = train_loss("capo", params, "models/policy", train_df, test_df,
                         out_dir="models/capo", checkpoint_dir="checkpoints/capo")

Reference log-probs come from the reference stage as dataset columns, so no reference model
is held in memory. ``params.train.batch_size`` is the global batch: with N processes
(``accelerate launch``, ``torchrun``) each takes batch_size / N, so the loss curve does not
depend on N. A run whose checkpoint directory holds checkpoints of the same inputs (a fingerprint of
params, data and policy) resumes from the last one and ends with the same weights as an
uninterrupted run. At the end the merged model is saved (safetensors) with the final model's
log-probs and implicit margin per training pair (``pair_weights.parquet``); for loss "capo" also
CAPO's confidence c and weight w, which are null for a TRL loss (its settings carry no CAPO
parameters to compute them with) unless ``capo_weights=True`` asks for them at ``settings``
(the noise study compares its variants' pairs that way). ``settings`` is the loss's one
LossSettings (the train stage reads it from its loss_settings file) and travels whole:
CAPOConfig.from_settings, then CAPOTrainer, then the loss.

Loss "filtered" (SELECTION_LOSSES) is TRL's sigmoid (DPO) trained on the pairs that
select_pairs (pipelines/models/selection.py) keeps under the settings' thresholds; the selection
runs before the fingerprint and the dataset are built. Every loss writes ``selection.json``
(pairs in, kept, dropped by each filter; kept == pairs for a loss that selects nothing), and
pair_weights.parquet keeps one row per training pair given, dropped ones included.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import os
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
from accelerate import PartialState
from datasets import Dataset
from transformers import TrainerCallback

from capo.columns import CONFIDENCE_COLUMN, REF_COLUMNS, SCORE_COLUMNS
from capo.config import CAPOConfig
from capo.errors import CapoError
from capo.loss import capo_margin_loss, implicit_margin
from capo.settings import LossSettings
from capo.trainer import CAPOTrainer
from capo_pipelines.data.contract import confidence_array, reference_arrays, score_arrays
from capo_pipelines.models.chat import trl_columns
from capo_pipelines.models.checkpoints import LoopState, resume_checkpoint
from capo_pipelines.models.load import load_pretrained
from capo_pipelines.models.logps import pair_logps, tokenize_pairs
from capo_pipelines.models.progress import quiet_trainer
from capo_pipelines.models.reproducible import scrub_trainer_state, without_timings
from capo_pipelines.models.selection import keep_all, select_pairs
from capo_pipelines.params import SELECTION_LOSSES, Params

__all__ = ["make_config", "pair_weights", "train_loss"]

logger = logging.getLogger(__name__)

FINGERPRINT_FILE = "capo_fingerprint.json"


def _dataset(pairs: pd.DataFrame) -> Dataset:
    """Only the columns training may see: never label_flipped, gold or language. A
    conversational pair's prompt/chosen/rejected are its messages (pipelines/models/chat.py)."""
    frame = pd.DataFrame(trl_columns(pairs, "training pairs"))
    for col in [*REF_COLUMNS, *(c for c in SCORE_COLUMNS if c in pairs.columns)]:
        frame[col] = pairs[col].to_numpy()
    if CONFIDENCE_COLUMN in pairs.columns and pairs[CONFIDENCE_COLUMN].notna().any():
        frame[CONFIDENCE_COLUMN] = pairs[CONFIDENCE_COLUMN].astype(float).to_numpy()
    return Dataset.from_pandas(frame, preserve_index=False)


def _world_size() -> int:
    return int(os.environ.get("WORLD_SIZE", "1"))


def make_config(
    loss: str, params: Params, checkpoint_dir: str | Path, settings: LossSettings
) -> CAPOConfig:
    """CAPOConfig of one matrix entry with the loss's ``settings`` whole; the global batch is
    split over processes. A selection loss ("filtered") trains as its TRL loss type
    (SELECTION_LOSSES: "sigmoid"); every other loss name is its loss type."""
    train = params.train
    per_step = _world_size() * train.gradient_accumulation_steps
    if train.batch_size % per_step:
        raise CapoError(f"train.batch_size {train.batch_size} not divisible by {per_step}")
    loss_type = SELECTION_LOSSES.get(loss, loss)
    nll = {"loss_type": [loss_type, "sft"], "loss_weights": [1.0, train.nll_weight]}
    return CAPOConfig.from_settings(
        settings,
        output_dir=str(checkpoint_dir),
        **(nll if train.nll_weight > 0 else {"loss_type": [loss_type]}),
        num_train_epochs=train.epochs,
        max_steps=train.max_steps,
        per_device_train_batch_size=train.batch_size // per_step,
        per_device_eval_batch_size=train.batch_size // per_step,
        gradient_accumulation_steps=train.gradient_accumulation_steps,
        learning_rate=train.learning_rate,
        lr_scheduler_type=train.lr_scheduler,
        warmup_steps=train.warmup_ratio,
        weight_decay=train.weight_decay,
        max_grad_norm=train.max_grad_norm,
        logging_steps=train.logging_steps,
        eval_strategy="steps" if train.eval_steps else "no",
        eval_steps=train.eval_steps or None,
        save_strategy="steps",
        save_steps=train.save_steps,
        save_total_limit=train.save_total_limit,
        seed=params.seed,
        data_seed=params.seed,
        max_length=params.policy.max_length,
        precompute_ref_log_probs=True,
        bf16=train.bf16,
        gradient_checkpointing=train.gradient_checkpointing,  # CAPOConfig keeps TRL's True
        use_cpu=not torch.cuda.is_available(),
        report_to="none",
    )


def _fingerprint(
    loss: str, params: Params, settings: LossSettings, policy_dir: Path, data: list[pd.DataFrame]
) -> str:
    """Hash of everything a checkpoint depends on: settings, params, data, policy, world size."""
    h = hashlib.sha256()
    section = {k: dataclasses.asdict(getattr(params, k)) for k in ("train", "policy")}
    section["loss"] = dataclasses.asdict(settings)  # what it trains with, not all of `loss:`
    h.update(json.dumps([loss, params.seed, section, _world_size()], default=str).encode())
    for frame in data:
        h.update(pd.util.hash_pandas_object(frame.astype(str), index=False).values.tobytes())
    for path in sorted(policy_dir.iterdir()):
        with path.open("rb") as f:  # name, size and the first MiB: cheap for large weights
            h.update(f"{path.name}:{path.stat().st_size}".encode() + f.read(1 << 20))
    return h.hexdigest()


def _resume_from(checkpoint_dir: Path, fingerprint: str) -> str | None:
    """The last complete checkpoint when it was made from the same inputs, else None (stale
    ones go; incomplete ones are skipped, logged and removed: checkpoints.resume_checkpoint)."""
    main = PartialState().is_main_process
    stamp = checkpoint_dir / FINGERPRINT_FILE
    same = stamp.is_file() and json.loads(stamp.read_text()).get("fingerprint") == fingerprint
    last = resume_checkpoint(checkpoint_dir, _world_size(), main=main) if same else None
    if last:
        logger.info("resuming from %s", last)
        return last
    if main:  # runs first (main_process_first): cleans up, stamps
        if checkpoint_dir.is_dir() and not same:
            logger.warning("%s holds checkpoints of other inputs: removing them", checkpoint_dir)
            shutil.rmtree(checkpoint_dir)
        checkpoint_dir.mkdir(parents=True, exist_ok=True)
        stamp.write_text(json.dumps({"fingerprint": fingerprint}))
    return None


def _lora_config(params: Params, model: Any, where: Path) -> Any:
    """peft's LoraConfig from train.lora, its target modules checked against ``model``."""
    lora = params.train.lora
    if not lora.enabled:
        return None
    from peft import LoraConfig

    names = {name.rsplit(".", 1)[-1] for name, _ in model.named_modules()}
    missing = [t for t in lora.target_modules if t not in names]
    if missing:
        linear = sorted(
            {n.rsplit(".", 1)[-1] for n, m in model.named_modules() if type(m).__name__ == "Linear"}
        )
        raise CapoError(
            f"params train.lora.target_modules: {missing} not in the model at {where} "
            f"(its linear layers: {', '.join(linear)})"
        )

    return LoraConfig(
        r=lora.r,
        lora_alpha=lora.alpha,
        lora_dropout=lora.dropout,
        target_modules=list(lora.target_modules),
        task_type="CAUSAL_LM",
    )


def _capo_weights(
    margin: torch.Tensor, pairs: pd.DataFrame, settings: LossSettings
) -> tuple[np.ndarray, np.ndarray]:
    """CAPO's c and w of each pair at ``margin``: capo_margin_loss with ``settings`` whole
    (it leaves out the scores or the translation confidence where the settings say so)."""
    sw = sr = mask = confidence = None
    scores = score_arrays(pairs)
    if confidence_array(pairs) is not None:
        confidence = torch.tensor(confidence_array(pairs))
    if scores is not None:
        sw, sr = (torch.tensor(x) for x in scores)
        mask = ~(sw.isnan() | sr.isnan())
    _, w, c = capo_margin_loss(
        margin,
        settings,
        score_chosen=sw,
        score_rejected=sr,
        score_mask=mask,
        translation_confidence=confidence,
    )
    return c.numpy(), w.numpy()


def pair_weights(
    model: Any,
    tokenizer: Any,
    pairs: pd.DataFrame,
    settings: LossSettings,
    params: Params,
    *,
    capo: bool = True,
) -> pd.DataFrame:
    """Policy log-probs, margin and CAPO's c and w per training pair under ``model``.

    ``capo=False`` (a model trained with a TRL loss): c and w are null (NaN); the margin is
    at ``settings.beta``.
    """
    logps = pair_logps(
        model,
        tokenize_pairs(tokenizer, pairs),
        pad_token_id=tokenizer.pad_token_id,
        batch_size=params.reference.batch_size,
        max_length=params.policy.max_length,
        desc="pair weights",
    )
    chosen, rejected = (torch.tensor(x) for x in logps)
    ref_c, ref_r = (torch.tensor(x) for x in reference_arrays(pairs))
    margin = implicit_margin(chosen, rejected, ref_c, ref_r, settings.beta)
    c = w = np.full(len(pairs), np.nan)
    if capo:
        c, w = _capo_weights(margin, pairs, settings)
    return pd.DataFrame(
        {
            "id": pairs["id"].to_numpy(),
            "policy_chosen_logps": chosen.numpy(),
            "policy_rejected_logps": rejected.numpy(),
            "margin": margin.numpy(),
            "c": c,
            "w": w,
        }
    )


def train_loss(
    loss: str,
    params: Params,
    policy_dir: str | Path,
    train_pairs: pd.DataFrame,
    test_pairs: pd.DataFrame | None,
    *,
    out_dir: str | Path,
    checkpoint_dir: str | Path,
    settings: LossSettings,
    callbacks: list[TrainerCallback] | None = None,
    capo_weights: bool | None = None,
) -> CAPOTrainer:
    """Train one loss from the policy with its ``settings``; pairs must carry the reference
    columns.

    ``callbacks`` are TrainerCallbacks (the stage passes its dvclive logger).
    ``capo_weights``: write CAPO's c and w per pair at ``settings`` (None: for loss "capo"
    only; the noise study asks for them for every variant). Loss "filtered" trains on the
    pairs select_pairs keeps; the test pairs are never filtered.
    """
    policy_dir, checkpoint_dir, out = Path(policy_dir), Path(checkpoint_dir), Path(out_dir)
    capo = loss == "capo" if capo_weights is None else capo_weights
    select = select_pairs if loss in SELECTION_LOSSES else keep_all
    kept, selection = select(train_pairs, settings)
    logger.info(
        "%s: training on %d of %d pairs (dropped %d by score margin, %d by translation confidence)",
        loss,
        selection["kept"],
        selection["pairs"],
        selection["dropped_score"],
        selection["dropped_confidence"],
    )
    if not len(kept):
        raise CapoError(
            f"{loss}: the data selection kept no training pair of {len(train_pairs)} "
            f"(min_score_margin {settings.min_score_margin}, "
            f"min_translation_confidence {settings.min_translation_confidence})"
        )
    args = make_config(loss, params, checkpoint_dir, settings)
    frames = [kept] + ([test_pairs] if test_pairs is not None else [])
    fingerprint = _fingerprint(loss, params, settings, policy_dir, frames)
    with PartialState().main_process_first():  # one process cleans up; all see one answer
        resume = _resume_from(checkpoint_dir, fingerprint)
    loop = LoopState(resume)  # a resumed run's loss total, token count, pending logs
    model, tokenizer = load_pretrained(str(policy_dir), params.policy.trust_remote_code)
    trainer = CAPOTrainer(
        model,
        args=args,
        train_dataset=_dataset(kept),
        eval_dataset=_dataset(test_pairs) if test_pairs is not None else None,
        processing_class=tokenizer,
        peft_config=_lora_config(params, model, policy_dir),
        callbacks=[loop, *(callbacks or [])],
    )
    loop.bind(trainer)
    quiet_trainer(trainer)  # nothing printed where progress bars are off (a study trial)
    logger.info(
        "training %s on %d process(es), global batch %d",
        loss,
        _world_size(),
        params.train.batch_size,
    )
    trainer.train(resume_from_checkpoint=resume)
    if test_pairs is not None:
        trainer.evaluate()
    if trainer.accelerator.is_main_process:
        _save(trainer, tokenizer, train_pairs, loss, settings, params, out, capo=capo)
        (out / "selection.json").write_text(json.dumps(selection, indent=1) + "\n", "utf-8")
    trainer.accelerator.wait_for_everyone()
    return trainer


def _save(
    trainer: CAPOTrainer,
    tokenizer: Any,
    pairs: pd.DataFrame,
    loss: str,
    settings: LossSettings,
    params: Params,
    out: Path,
    *,
    capo: bool,
) -> None:
    model = trainer.accelerator.unwrap_model(trainer.model)
    if hasattr(model, "merge_and_unload"):  # LoRA: ship plain merged weights
        model = model.merge_and_unload()
    out.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(out)
    tokenizer.save_pretrained(out)
    weights = pair_weights(model, tokenizer, pairs, settings, params, capo=capo)
    weights.to_parquet(out / "pair_weights.parquet", index=False)
    history = without_timings(trainer.state.log_history)  # same inputs, same bytes
    (out / "log_history.json").write_text(json.dumps(history, indent=1), encoding="utf-8")
    checkpoints = Path(trainer.args.output_dir)
    scrub_trainer_state(checkpoints)
    (checkpoints / "README.md").unlink(missing_ok=True)  # TRL's hub card: tags in set order
    logger.info("%s: model and %d pair weights saved to %s", loss, len(weights), out)
