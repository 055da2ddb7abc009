"""The policy stage: load a Hugging Face model or build the tiny one, then SFT it.

    policy, tokenizer = prepare_policy(params.policy, train_df, out_dir, seed=params.seed,
                                       demonstrations=sft_df)

SFT data (``policy.sft_data``): clean demonstrations (prompt, completion) where there are
some, as real pipelines fine-tune on curated answers before preference tuning; the
preference pairs' chosen answers only when asked (``chosen``), since noisy labels would
then teach the reference the wrong answers too. ``auto`` takes demonstrations when present.

Prompt format (shared by SFT, the reference log-probs, DPO training and generation,
pipelines/models/chat.py): plain-text pairs are ``prompt + completion + eos``, exactly what TRL's
DPOTrainer builds from string datasets; conversational pairs (a ``messages`` column) go
through the tokenizer's chat template as TRL renders message lists. SFT uses TRL's
prompt-completion format, which tokenises the prompt and prompt+completion the same way
DPOTrainer does and trains only on the completion and its end token, so the policy learns to
answer right after the prompt and stop. When the pairs are conversations, plain-text
demonstrations become one user and one assistant turn, as ingest's ``chat_format: messages``
does with pairs. A tokenizer without a chat template gets capo's (pipelines/models/tiny.py).

``policy.model`` is ``builtin-tiny``, a hub id, a local folder of safetensors weights, or a
local GGUF file (gguf.py); the policy is always saved as safetensors with its tokenizer
and chat template, so later stages load a plain folder.
"""

from __future__ import annotations

import json
import logging
import tempfile
from pathlib import Path
from typing import Any

import pandas as pd
import torch
from datasets import Dataset
from transformers import PreTrainedModel

from capo.errors import CapoError
from capo_pipelines.models.chat import (
    MESSAGES,
    conversation_json,
    is_conversational,
    sft_columns,
    single_turn,
)
from capo_pipelines.models.load import load_pretrained
from capo_pipelines.models.progress import quiet_trainer
from capo_pipelines.models.reproducible import save_tokenizer, without_timings
from capo_pipelines.models.tiny import build_tiny_llama, train_tokenizer
from capo_pipelines.params import BUILTIN_MODEL, PolicyParams

__all__ = [
    "build_builtin_policy",
    "make_sft_trainer",
    "prepare_policy",
    "sft",
    "sft_examples",
]

logger = logging.getLogger(__name__)


def build_builtin_policy(
    params: PolicyParams, texts: list[str], seed: int
) -> tuple[PreTrainedModel, Any]:
    """Train a byte-level BPE tokenizer on ``texts`` and build the tiny Llama from params."""
    tokenizer = train_tokenizer(texts, vocab_size=params.vocab_size)
    model = build_tiny_llama(
        tokenizer,
        hidden_size=params.hidden_size,
        num_layers=params.num_layers,
        num_heads=params.num_heads,
        max_position_embeddings=params.max_length,
        seed=seed,
    )
    n = sum(p.numel() for p in model.parameters())
    logger.info("built tiny Llama: %d tokens vocab, %.2f M parameters", len(tokenizer), n / 1e6)
    return model, tokenizer


def make_sft_trainer(
    model: PreTrainedModel,
    tokenizer: Any,
    examples: pd.DataFrame,
    params: PolicyParams,
    seed: int,
    output_dir: str | Path,
) -> Any:
    """TRL SFTTrainer on prompt -> completion, TRL's prompt-completion format (as DPO's)."""
    from trl import SFTConfig, SFTTrainer

    data = Dataset.from_dict(sft_columns(examples))  # text, or messages (pipelines/models/chat.py)
    args = SFTConfig(
        output_dir=str(output_dir),
        num_train_epochs=params.sft_epochs,
        per_device_train_batch_size=params.sft_batch_size,
        learning_rate=params.sft_learning_rate,
        lr_scheduler_type="cosine",
        warmup_steps=0.05,
        max_length=params.max_length,
        completion_only_loss=True,
        bf16=False,
        activation_checkpointing=False,
        use_cpu=not torch.cuda.is_available(),
        seed=seed,
        logging_steps=10,
        save_strategy="no",
        report_to="none",
    )
    return quiet_trainer(
        SFTTrainer(model, args=args, train_dataset=data, processing_class=tokenizer)
    )


def sft(
    model: PreTrainedModel, tokenizer: Any, examples: pd.DataFrame, params: PolicyParams, seed: int
) -> list[dict[str, float]]:
    """Fine-tune ``model`` in place on prompt -> completion; returns the trainer's loss log."""
    with tempfile.TemporaryDirectory(prefix="capo-sft-") as tmp:
        trainer = make_sft_trainer(model, tokenizer, examples, params, seed, tmp)
        trainer.train()
    return [h for h in trainer.state.log_history if "loss" in h or "train_loss" in h]


def sft_examples(
    params: PolicyParams, pairs: pd.DataFrame, demonstrations: pd.DataFrame | None
) -> pd.DataFrame:
    """The SFT set (prompt, completion) that ``policy.sft_data`` names."""
    have = demonstrations is not None and len(demonstrations) > 0
    if params.sft_data == "demonstrations" and not have:
        raise CapoError(
            "policy.sft_data is 'demonstrations' but there are none (the built-in benchmark "
            "writes them); set policy.sft_data: chosen to fine-tune on the chosen answers"
        )
    chat = is_conversational(pairs, "training pairs")
    if params.sft_data != "chosen" and have:
        logger.info("SFT on %d clean demonstrations", len(demonstrations))
        examples = demonstrations.reset_index(drop=True)
        if chat and not is_conversational(examples, "demonstrations"):  # as ingest wraps pairs
            texts = zip(examples["prompt"], examples["completion"], strict=True)
            return examples.assign(**{MESSAGES: [single_turn(p, completion=c) for p, c in texts]})
        return examples[["prompt", "completion", *([MESSAGES] if chat else [])]]
    logger.info("SFT on the chosen answers of %d training pairs", len(pairs))
    examples = pairs[["prompt", "chosen"]].rename(columns={"chosen": "completion"})
    if chat:
        convs = [json.loads(m) for m in pairs[MESSAGES]]
        chosen = [conversation_json(prompt=c["prompt"], completion=c["chosen"]) for c in convs]
        examples[MESSAGES] = chosen
    return examples


def _training_texts(pairs: pd.DataFrame, examples: pd.DataFrame) -> list[str]:
    columns = [pairs[c] for c in ("prompt", "chosen", "rejected")]
    columns += [examples[c] for c in ("prompt", "completion")]
    return [text for col in columns for text in col.astype(str).tolist()]


def prepare_policy(
    params: PolicyParams,
    pairs: pd.DataFrame,
    out_dir: str | Path,
    seed: int = 0,
    demonstrations: pd.DataFrame | None = None,
) -> tuple[PreTrainedModel, Any]:
    """Load or build the policy, SFT it (``sft_examples``), save it to ``out_dir``."""
    missing = {"prompt", "chosen", "rejected"} - set(pairs.columns)
    if missing:
        raise CapoError(f"training pairs lack columns {sorted(missing)}")
    examples = sft_examples(params, pairs, demonstrations)
    if params.model == BUILTIN_MODEL:
        texts = _training_texts(pairs, examples)
        model, tokenizer = build_builtin_policy(params, texts, seed)
        if params.sft_epochs == 0:
            logger.warning("policy.sft_epochs is 0: the tiny policy stays untrained")
    else:
        model, tokenizer = load_pretrained(params.model, params.trust_remote_code)
    log: list[dict[str, float]] = []
    if params.sft_epochs > 0:
        log = sft(model, tokenizer, examples, params, seed)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(out)  # safetensors: transformers 5 writes nothing else
    save_tokenizer(tokenizer, out)  # without load-time flags such as local_files_only
    sft_log = json.dumps(without_timings(log), indent=1)  # same inputs, same bytes
    (out / "sft_log.json").write_text(sft_log, encoding="utf-8")
    logger.info("policy saved to %s", out)
    return model, tokenizer
