"""`evaluate:`, `compare:` and `register:` sections of params.yaml."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Annotated

from capo_pipelines.params.parse import Fraction, NonNegative, Positive, PositiveInt, Range

__all__ = ["UNDECIDED", "CompareParams", "EvaluateParams", "RegisterParams"]

UNDECIDED = "undecided"  # register.license_name while no license is chosen for the model
_LICENSE_NAME = re.compile(r"[a-z0-9][a-z0-9.-]*")


@dataclass(frozen=True)
class RegisterParams:
    """`register:` the promotion gate and the packaged model's name and card."""

    name: str = "capo-policy"  # artifact name (DVC artifact, GTO tags, model card)
    loss: str = "capo"  # which trained model (a train.losses entry) to promote
    baseline: str = "sigmoid"  # the DPO baseline it must beat
    min_reward_accuracy: Fraction = 0.5  # minimum overall test reward accuracy
    language_floor: Fraction = 0.3  # no language's reward accuracy below this
    min_gain_over_baseline: Annotated[float, Range(ge=-1, le=1)] = 0.0  # over the baseline
    # The model card's license: a license id of the Hub (huggingface.co/docs/hub/
    # repositories-licenses), or "other" with license_name (and license_link) for another one.
    license: str = "other"
    license_name: str | None = None  # license other: its id ([a-z0-9.-]); null = "undecided"
    license_link: str | None = None  # license other: URL of its text; null = LICENSE.md

    def __post_init__(self) -> None:
        if self.license != "other":
            if self.license_name is not None or self.license_link is not None:
                raise ValueError(
                    f"license_name must be null unless license is other (license: {self.license})"
                )
            return
        if self.license_name is None:
            object.__setattr__(self, "license_name", UNDECIDED)
        if not _LICENSE_NAME.fullmatch(self.license_name):
            raise ValueError(
                "license_name must be lowercase letters, digits, '-' and '.', e.g. "
                f"my-license-1.0 (got {self.license_name!r})"
            )
        if self.license_link is None and self.license_name != UNDECIDED:
            raise ValueError(
                f"license_link must be set for license_name {self.license_name!r}: the URL of "
                f"its text (only license_name {UNDECIDED!r} gets capo's own LICENSE.md)"
            )


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
