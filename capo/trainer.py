"""CAPOConfig and CAPOTrainer: TRL's DPOConfig/DPOTrainer with the CAPO loss added.

Written against trl==1.16 (pinned in pyproject.toml). This is the only module in capo that
touches TRL internals. The hooks it overrides, all on ``trl.DPOTrainer``:

- ``_compute_loss``: for ``loss_type="capo"`` TRL runs its own "sigmoid" branch, so TRL
  still computes the log-probs, the reference, every metric and the reduction. That branch
  makes exactly one call, ``-F.logsigmoid(self.beta * delta_score)``; for the duration of
  the call the ``F`` of ``trl.trainer.dpo_trainer`` is replaced by a stand-in whose
  ``logsigmoid`` returns ``-capo_margin_loss(margin)``. A second call (TRL changed) raises.
- ``_set_signature_columns_if_needed``: keeps ``score_chosen``/``score_rejected`` and
  ``translation_confidence``.
- ``_precompute_ref_logps``: a dataset that already has ``ref_chosen_logps`` and
  ``ref_rejected_logps`` columns keeps them instead of recomputing.
"""

from __future__ import annotations

import contextlib
import copy
import logging
import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import torch
import torch.nn.functional as F
import trl.trainer.dpo_trainer as trl_dpo
from trl import DPOConfig, DPOTrainer

from capo.loss import DIRECTIONS, capo_margin_loss
from capo.pairs import CONFIDENCE_COLUMN, REF_COLUMNS, SCORE_COLUMNS

__all__ = ["CAPOConfig", "CAPOTrainer"]

logger = logging.getLogger(__name__)

_BATCH_SCORE_KEYS = (*SCORE_COLUMNS, "score_mask", CONFIDENCE_COLUMN)
# Loss types whose TRL branch calls F.logsigmoid: they cannot run beside "capo" in one step.
_LOGSIGMOID_TYPES = {"sigmoid", "exo_pair", "nca_pair", "robust", "bco_pair", "aot"}
_LOGSIGMOID_TYPES |= {"aot_unpaired", "discopop", "sigmoid_norm"}


@dataclass
class CAPOConfig(DPOConfig):
    """DPOConfig plus CAPO's parameters; ``loss_type="capo"`` next to every TRL loss type.

    Defaults differ from TRL's where TRL's would surprise on a CPU: no bf16, no gradient
    checkpointing unless asked.
    """

    loss_type: list[str] = field(
        default_factory=lambda: ["capo"],
        metadata={"help": "'capo' (this project) or any TRL DPO loss type; a list combines."},
    )
    gamma: float = field(
        default=1.0,
        metadata={"help": "CAPO: exponent of the model-confidence factor (2c)^gamma; 0 = DPO."},
    )
    tau: float = field(
        default=1.0, metadata={"help": "CAPO: temperature of the confidence c = sigmoid(m/tau)."}
    )
    kappa: float = field(
        default=1.0,
        metadata={"help": "CAPO: slope of the data confidence q = sigmoid(kappa*(s_w - s_l))."},
    )
    direction: str = field(
        default="down",
        metadata={"help": "CAPO: 'down' = (2c)^gamma, 'up' = focal-style (2(1-c))^gamma."},
    )
    use_scores: bool = field(
        default=True,
        metadata={"help": "CAPO: data confidence from score_chosen/score_rejected columns."},
    )
    use_translation_confidence: bool = field(
        default=True,
        metadata={"help": "CAPO: multiply q by a translation_confidence column where present."},
    )
    bf16: bool | None = field(default=False, metadata={"help": "bf16 mixed precision."})
    activation_checkpointing: bool | None = field(  # transformers 5 name; the old one warns
        default=False, metadata={"help": "Trade compute for memory (gradient checkpointing)."}
    )

    def __post_init__(self) -> None:
        types = [self.loss_type] if isinstance(self.loss_type, str) else list(self.loss_type)
        if "capo" in types:
            clash = sorted(set(types) & _LOGSIGMOID_TYPES)
            if clash:
                raise ValueError(f"loss_type 'capo' cannot be combined with {clash}")
            if self.gamma < 0 or not math.isfinite(self.gamma):
                raise ValueError(f"gamma must be >= 0, got {self.gamma!r}")
            for name in ("tau", "kappa", "beta"):
                if not getattr(self, name) > 0:
                    raise ValueError(f"{name} must be > 0, got {getattr(self, name)!r}")
            if self.direction not in DIRECTIONS:
                raise ValueError(f"direction must be one of {DIRECTIONS}, got {self.direction!r}")
            if self.f_divergence_type != "reverse_kl":
                raise ValueError("loss_type 'capo' needs f_divergence_type='reverse_kl'")
        super().__post_init__()

    @property
    def uses_capo(self) -> bool:
        return "capo" in self.loss_type


class _LogSigmoidRoute:
    """Stands in for ``torch.nn.functional`` inside one ``DPOTrainer._compute_loss`` call."""

    def __init__(self, loss_fn: Callable[[torch.Tensor], torch.Tensor]) -> None:
        self._loss_fn = loss_fn
        self.calls = 0

    def __getattr__(self, name: str) -> Any:
        return getattr(F, name)

    def logsigmoid(self, margin: torch.Tensor) -> torch.Tensor:
        self.calls += 1
        if self.calls > 1:
            raise RuntimeError("TRL called F.logsigmoid twice in _compute_loss: trl changed?")
        return -self._loss_fn(margin)


@contextlib.contextmanager
def _route_logsigmoid(loss_fn: Callable[[torch.Tensor], torch.Tensor]) -> Iterator[None]:
    route = _LogSigmoidRoute(loss_fn)
    trl_dpo.F = route
    try:
        yield
    finally:
        trl_dpo.F = F
    if route.calls != 1:
        raise RuntimeError("TRL's sigmoid loss branch was not reached: is trl pinned to 1.16?")


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
    """TRL's DPOTrainer with ``loss_type="capo"`` routed through :func:`capo.capo_margin_loss`.

    Every TRL feature keeps working (precomputed reference log-probs, PEFT, accelerate,
    TRL's metrics); CAPO adds ``capo/weight_mean`` and ``capo/confidence_mean``. Optional
    ``score_chosen``/``score_rejected`` dataset columns feed the data confidence q_s, and an
    optional ``translation_confidence`` column (None where not translated) q_t.
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
        # TRL's own "sigmoid" branch runs for "capo"; _compute_loss reroutes its logsigmoid.
        self.loss_types = ["sigmoid" if t == "capo" else t for t in self.loss_types]
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
        if not self.args.use_scores:
            scores = {k: v for k, v in scores.items() if k == CONFIDENCE_COLUMN}
        if not self.args.use_translation_confidence:
            scores.pop(CONFIDENCE_COLUMN, None)
        if not self.args.uses_capo:
            return super()._compute_loss(model, inputs, return_outputs)
        mode = "train" if self.model.training else "eval"

        def loss_fn(margin: torch.Tensor) -> torch.Tensor:
            losses, w, c = capo_margin_loss(
                margin,
                gamma=self.args.gamma,
                tau=self.args.tau,
                kappa=self.args.kappa,
                label_smoothing=self.label_smoothing,
                direction=self.args.direction,
                **scores,
            )
            gathered = self.accelerator.gather_for_metrics(torch.stack([w, c]).float().T)
            self._metrics[mode]["capo/weight_mean"].append(gathered[:, 0].mean().item())
            self._metrics[mode]["capo/confidence_mean"].append(gathered[:, 1].mean().item())
            return losses

        with _route_logsigmoid(loss_fn):
            return super()._compute_loss(model, inputs, return_outputs)
