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
import logging
import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch
from trl import DPOTrainer

from capo.columns import CONFIDENCE_COLUMN, REF_COLUMNS, SCORE_COLUMNS
from capo.config import CAPOConfig
from capo.loss import capo_margin_loss, cdpo_margin_loss, odpo_margin_loss
from capo.trl_adapter import route_logsigmoid, trl_loss_types

__all__ = ["CAPOConfig", "CAPOTrainer"]

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


def _check_scores(dataset: Any, name: str) -> None:
    """Fail early, naming the row, on NaN/inf scores or a score without its partner."""
    if dataset is None or not hasattr(dataset, "column_names"):
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
    return hasattr(dataset, "column_names") and set(REF_COLUMNS) <= set(dataset.column_names)


class CAPOTrainer(DPOTrainer):
    """TRL's DPOTrainer with ``loss_type="capo"`` routed through :func:`capo.capo_margin_loss`
    (and the baselines "cdpo" and "odpo" through cdpo_margin_loss and odpo_margin_loss).

    Every TRL feature keeps working (precomputed reference log-probs, PEFT, accelerate,
    TRL's metrics); CAPO adds ``capo/weight_mean`` and ``capo/confidence_mean``, ODPO
    ``odpo/offset_mean``. Optional ``score_chosen``/``score_rejected`` dataset columns feed
    the data confidence q_s (ODPO: the offset), and an optional ``translation_confidence``
    column (None where not translated) q_t.
    """

    def __init__(
        self,
        model: Any,
        ref_model: Any = None,
        args: CAPOConfig | None = None,
        train_dataset: Any = None,
        eval_dataset: Any = None,
        **kwargs: Any,
    ) -> None:
        args = args or CAPOConfig(output_dir="capo-output")
        if not isinstance(args, CAPOConfig):
            raise TypeError("CAPOTrainer needs a CAPOConfig (DPOConfig has no gamma/tau/kappa)")
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
            ref_model=ref_model,
            args=args,
            train_dataset=train_dataset,
            eval_dataset=eval_dataset,
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
