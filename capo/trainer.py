"""CAPOTrainer: TRL's DPOTrainer with the CAPO loss added, and capo's baselines cDPO and ODPO
(CAPOConfig: capo/config.py; the losses: capo/loss.py).

Written against trl==1.16 (pinned in pyproject.toml). Every touch point with TRL's internals
is named in capo/trl_adapter.py: the routed logsigmoid, the loss-type rename and the three
private hooks overridden here (PRIVATE_HOOKS):

- ``_compute_loss``: for ``loss_type`` "capo", "cdpo" or "odpo" TRL runs its own "sigmoid"
  branch, with its one ``logsigmoid`` call routed to that loss, which gets the settings whole.
- ``_set_signature_columns_if_needed``: keeps ``score_chosen``/``score_rejected`` and
  ``translation_confidence``.
- ``_precompute_ref_logps``: a dataset that already has ``ref_chosen_logps`` and
  ``ref_rejected_logps`` columns keeps them instead of recomputing.

The loss settings are read from ``args`` once, in ``__init__`` (``self.capo_settings``, one
checked LossSettings), and passed whole to the loss (capo_margin_loss, cdpo_margin_loss or
odpo_margin_loss) at every step.
"""

from __future__ import annotations

import copy
import dataclasses
import logging
import math
import textwrap
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, ClassVar

import torch
from datasets import Dataset
from trl import DPOConfig, DPOTrainer

from capo.columns import CONFIDENCE_COLUMN, REF_COLUMNS, SCORE_COLUMNS
from capo.config import CAPOConfig
from capo.loss import capo_margin_loss, cdpo_margin_loss, odpo_margin_loss
from capo.trl_adapter import route_logsigmoid, trl_loss_types

__all__ = ["CAPOConfig", "CAPOTrainer", "as_capo_config"]

logger = logging.getLogger(__name__)

_BATCH_SCORE_KEYS = (*SCORE_COLUMNS, "score_mask", CONFIDENCE_COLUMN)


@dataclass
class _ScoreCollator:
    """Wraps TRL's preference collator and adds score tensors plus a has-scores mask."""

    inner: Callable[[list[dict[str, Any]]], dict[str, Any]]

    def __call__(self, examples: list[dict[str, Any]]) -> dict[str, Any]:
        batch = self.inner(examples)
        if all(c in examples[0] for c in SCORE_COLUMNS):
            chosen = [e[SCORE_COLUMNS[0]] for e in examples]
            rejected = [e[SCORE_COLUMNS[1]] for e in examples]
            mask = torch.tensor(
                [w is not None and r is not None for w, r in zip(chosen, rejected, strict=True)]
            )
            batch["score_chosen"] = torch.tensor([0.0 if v is None else v for v in chosen])
            batch["score_rejected"] = torch.tensor([0.0 if v is None else v for v in rejected])
            batch["score_mask"] = mask
        if CONFIDENCE_COLUMN in examples[0]:
            values = [e[CONFIDENCE_COLUMN] for e in examples]
            batch[CONFIDENCE_COLUMN] = torch.tensor(
                [math.nan if v is None else float(v) for v in values]
            )
        return batch


def _columns(dataset: Any) -> list[str]:
    """A dataset's column names; [] where they are not known up front (a streaming
    IterableDataset before its first row, or None)."""
    return list(getattr(dataset, "column_names", None) or [])


def _check_scores(dataset: Any, name: str) -> None:
    """Fail early, naming the row, on NaN/inf scores or a score without its partner.

    A streaming dataset is not read here (that would consume it); its rows are checked as
    the collator sees them."""
    if not isinstance(dataset, Dataset):
        return
    present = [c for c in SCORE_COLUMNS if c in dataset.column_names]
    if len(present) == 1:
        raise ValueError(f"{name} dataset has {present[0]} but not its partner column")
    if not present:
        return
    for row, (w, r) in enumerate(
        zip(dataset[SCORE_COLUMNS[0]], dataset[SCORE_COLUMNS[1]], strict=True)
    ):
        if (w is None) != (r is None):
            raise ValueError(f"{name} dataset row {row}: only one of score_chosen/score_rejected")
        for col, v in zip(SCORE_COLUMNS, (w, r), strict=True):
            if v is not None and not math.isfinite(v):
                raise ValueError(f"{name} dataset row {row}: {col} is {v}")


def _has_ref_columns(dataset: Any) -> bool:
    return set(REF_COLUMNS) <= set(_columns(dataset))


def as_capo_config(args: Any) -> CAPOConfig:
    """``args`` as a CAPOConfig. A TRL DPOConfig is converted field by field, keeping its
    ``loss_type`` (so DPOConfig's default trains plain DPO), with a warning that says how to
    train CAPO; anything else is a TypeError."""
    if isinstance(args, CAPOConfig):
        return args
    if not isinstance(args, DPOConfig):
        raise TypeError(
            f"CAPOTrainer needs a CAPOConfig (or a DPOConfig), got {type(args).__name__}"
        )
    values = {f.name: getattr(args, f.name) for f in dataclasses.fields(DPOConfig) if f.init}
    # transformers resolves the deprecated alias in __post_init__: pass the resolved name only
    values.pop("gradient_checkpointing", None)
    values.pop("gradient_checkpointing_kwargs", None)
    config = CAPOConfig(**values)
    logger.warning(
        "CAPOTrainer got a DPOConfig: converted to CAPOConfig with loss_type %s and CAPO's "
        "default settings; use CAPOConfig(loss_type='capo', ...) to train CAPO",
        config.loss_type,
    )
    return config


def _default_config(model: Any) -> CAPOConfig:
    """What DPOTrainer does without args, named for CAPO: output_dir "<model>-CAPO"."""
    name = model if isinstance(model, str) else getattr(model.config, "_name_or_path", "model")
    return CAPOConfig(output_dir=f"{str(name).rstrip('/').split('/')[-1] or 'model'}-CAPO")


class CAPOTrainer(DPOTrainer):
    """TRL's DPOTrainer with ``loss_type="capo"`` routed through :func:`capo.capo_margin_loss`
    (and the baselines "cdpo" and "odpo" through cdpo_margin_loss and odpo_margin_loss).

    Every TRL feature keeps working (precomputed reference log-probs, PEFT, accelerate,
    TRL's metrics); CAPO adds ``capo/weight_mean`` and ``capo/confidence_mean``, ODPO
    ``odpo/offset_mean``. Optional ``score_chosen``/``score_rejected`` dataset columns feed
    the data confidence q_s (ODPO: the offset), and an optional ``translation_confidence``
    column (None where not translated) q_t.
    """

    _tag_names: ClassVar[list[str]] = ["trl", "dpo", "capo"]
    _name = "CAPO"
    _paper: ClassVar[dict[str, str]] = {
        "title": "Confidence-Aware Preference Optimization",
        "id": "2511.07691",
        # docstyle-ignore
        "citation": textwrap.dedent("""\
            @misc{capo2025,
                title         = {{Confidence-Aware Preference Optimization}},
                year          = 2025,
                eprint        = {2511.07691},
                archivePrefix = {arXiv},
                url           = {https://arxiv.org/abs/2511.07691},
            }"""),
    }

    def __init__(
        self,
        model: Any,
        ref_model: Any = None,
        args: CAPOConfig | DPOConfig | None = None,
        data_collator: Any = None,
        train_dataset: Any = None,
        eval_dataset: Any = None,
        *rest: Any,
        **kwargs: Any,
    ) -> None:
        # DPOTrainer's own positional order: model, ref_model, args, data_collator,
        # train_dataset, eval_dataset, processing_class, ...
        args = as_capo_config(args) if args is not None else _default_config(model)
        evals = eval_dataset.values() if isinstance(eval_dataset, dict) else [eval_dataset]
        for name, ds in [("train", train_dataset), *(("eval", d) for d in evals)]:
            _check_scores(ds, name)
        if (
            ref_model is None
            and not args.precompute_ref_log_probs
            and _has_ref_columns(train_dataset)
        ):
            logger.info("train dataset carries reference log-probs: using them, no ref model")
            args = copy.copy(args)
            args.precompute_ref_log_probs = True
        super().__init__(
            model,
            ref_model,
            args,
            data_collator,
            train_dataset,
            eval_dataset,
            *rest,
            **kwargs,
        )
        # TRL's own "sigmoid" branch runs for "capo", "cdpo" and "odpo"; _compute_loss
        # reroutes its logsigmoid.
        self.loss_types = trl_loss_types(self.loss_types)
        self.core_loss = args.core_loss
        # checked once here, passed whole every step
        self.capo_settings = args.settings if self.core_loss else None
        self.data_collator = _ScoreCollator(self.data_collator)

    def _set_signature_columns_if_needed(self) -> None:
        super()._set_signature_columns_if_needed()
        wanted = (*SCORE_COLUMNS, CONFIDENCE_COLUMN)
        extra = [c for c in wanted if c not in self._signature_columns]
        self._signature_columns = [*self._signature_columns, *extra]

    def _precompute_ref_logps(self, dataset: Any, name: str, batch_size: int) -> Any:
        if _has_ref_columns(dataset):
            logger.info("%s dataset already has reference log-probs: not recomputing", name)
            return dataset
        return super()._precompute_ref_logps(dataset, name, batch_size)

    def _compute_loss(self, model: Any, inputs: dict[str, Any], return_outputs: bool) -> Any:
        inputs = dict(inputs)
        scores = {k: inputs.pop(k) for k in _BATCH_SCORE_KEYS if k in inputs}
        if self.core_loss is None:
            return super()._compute_loss(model, inputs, return_outputs)
        mode = "train" if self.model.training else "eval"
        metrics, gather = self._metrics[mode], self.accelerator.gather_for_metrics
        settings = self.capo_settings

        def capo_fn(margin: torch.Tensor) -> torch.Tensor:
            losses, w, c = capo_margin_loss(margin, settings, **scores)
            gathered = gather(torch.stack([w, c]).float().T)
            metrics["capo/weight_mean"].append(gathered[:, 0].mean().item())
            metrics["capo/confidence_mean"].append(gathered[:, 1].mean().item())
            return losses

        def odpo_fn(margin: torch.Tensor) -> torch.Tensor:
            pair_scores = {k: v for k, v in scores.items() if k != CONFIDENCE_COLUMN}
            losses, offset = odpo_margin_loss(margin, settings, **pair_scores)
            metrics["odpo/offset_mean"].append(gather(offset.float()).mean().item())
            return losses

        def cdpo_fn(margin: torch.Tensor) -> torch.Tensor:
            return cdpo_margin_loss(margin, settings)

        loss_fn = {"capo": capo_fn, "cdpo": cdpo_fn, "odpo": odpo_fn}[self.core_loss]
        with route_logsigmoid(loss_fn):
            return super()._compute_loss(model, inputs, return_outputs)
