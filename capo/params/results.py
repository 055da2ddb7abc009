"""`evaluate:`, `compare:` and `register:` sections of params.yaml."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["CompareParams", "EvaluateParams", "RegisterParams"]


@dataclass(frozen=True)
class RegisterParams:
    """`register:` the promotion gate and the packaged model's name and card."""

    name: str = "capo-policy"  # artifact name (DVC artifact, GTO tags, model card)
    loss: str = "capo"  # which trained model (a train.losses entry) to promote
    baseline: str = "sigmoid"  # the DPO baseline it must beat
    min_reward_accuracy: float = 0.5  # minimum overall test reward accuracy
    language_floor: float = 0.3  # no language's reward accuracy below this
    min_gain_over_baseline: float = 0.0  # overall reward-accuracy points over the baseline
    license: str = "other"  # model-card license field (placeholder until decided)

    def __post_init__(self) -> None:
        for key in ("min_reward_accuracy", "language_floor"):
            if not 0.0 <= getattr(self, key) <= 1.0:
                raise ValueError(f"{key}: not in [0, 1]: {getattr(self, key)}")


@dataclass(frozen=True)
class EvaluateParams:
    """`evaluate:` per-language metrics of each trained loss on the clean test split."""

    batch_size: int = 32  # pairs per log-prob forward pass; prompts per generate() call
    max_new_tokens: int = 24  # greedy generation cap per answer (benchmark answers are short)
    beta: float | None = None  # reward scale r = beta * log(pi/pi_ref); null = the loss's beta
    reference_generation: bool = True  # also score models/policy's answers, for context
    device: str = "auto"  # auto (cuda when present) | cpu | cuda | cuda:N

    def __post_init__(self) -> None:
        if self.batch_size < 1 or self.max_new_tokens < 1:
            raise ValueError("batch_size and max_new_tokens must be >= 1")
        if self.beta is not None and not self.beta > 0:
            raise ValueError(f"beta: must be > 0 or null, got {self.beta}")


@dataclass(frozen=True)
class CompareParams:
    """`compare:` CAPO against each baseline, per language (capo/compare.py)."""

    candidate: str = "capo"  # the loss compared with every other loss in train.losses
    baseline: str = "sigmoid"  # the headline baseline (DPO)
    worse_tolerance: float = 0.0  # a language is "worse" when below the baseline by more
    dpi: int = 110  # PNG chart resolution

    def __post_init__(self) -> None:
        if self.candidate == self.baseline:
            raise ValueError(f"candidate and baseline are both {self.candidate!r}")
        if self.worse_tolerance < 0 or self.dpi < 10:
            raise ValueError("worse_tolerance must be >= 0 and dpi >= 10")
