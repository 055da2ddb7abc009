"""`evaluate:`, `compare:` and `register:` sections of params.yaml."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from capo_pipelines.params.parse import Fraction, NonNegative, Positive, PositiveInt, Range

__all__ = ["CompareParams", "EvaluateParams", "RegisterParams"]


@dataclass(frozen=True)
class RegisterParams:
    """`register:` the promotion gate and the packaged model's name and card."""

    name: str = "capo-policy"  # artifact name (DVC artifact, GTO tags, model card)
    loss: str = "capo"  # which trained model (a train.losses entry) to promote
    baseline: str = "sigmoid"  # the DPO baseline it must beat
    min_reward_accuracy: Fraction = 0.5  # minimum overall test reward accuracy
    language_floor: Fraction = 0.3  # no language's reward accuracy below this
    min_gain_over_baseline: Annotated[float, Range(ge=-1, le=1)] = 0.0  # over the baseline
    license: str = "other"  # model-card license field (placeholder until decided)


@dataclass(frozen=True)
class EvaluateParams:
    """`evaluate:` per-language metrics of each trained loss on the clean test split."""

    batch_size: PositiveInt = 32  # pairs per log-prob forward pass; prompts per generate() call
    max_new_tokens: PositiveInt = 24  # greedy generation cap per answer (answers are short)
    beta: Positive | None = None  # reward scale r = beta * log(pi/pi_ref); null = the loss's beta
    reference_generation: bool = True  # also score models/policy's answers, for context
    max_empty_rate: Fraction = 0.02  # more empty answers: degenerate (collapsed to EOS)
    max_generation_drop: Fraction = 0.05  # degenerate: below the policy's accuracy/fidelity by more
    device: str = "auto"  # auto (cuda when present) | cpu | cuda | cuda:N


@dataclass(frozen=True)
class CompareParams:
    """`compare:` CAPO against each baseline, per language (pipelines/evaluation/comparison.py)."""

    candidate: str = "capo"  # the loss compared with every other loss in train.losses
    baseline: str = "sigmoid"  # the headline baseline (DPO)
    worse_tolerance: NonNegative = 0.0  # a language is "worse" when below the baseline by more
    dpi: Annotated[int, Range(ge=10)] = 110  # PNG chart resolution

    def __post_init__(self) -> None:
        if self.candidate == self.baseline:
            raise ValueError(f"candidate and baseline are both {self.candidate!r}")
