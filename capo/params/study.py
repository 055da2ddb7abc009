"""`study:` section of params.yaml: the label-noise study (capo/study, studies/noise)."""

from __future__ import annotations

from dataclasses import dataclass, field

from capo.params.parse import FlipRate, NonNegativeInt, PositiveInt, check_field
from capo.params.training import LossParams

__all__ = ["StudyParams", "StudyVariant"]


@dataclass(frozen=True)
class StudyVariant:
    """One loss of the study: a TRL/capo loss type, its fixed settings and its tuning grid."""

    name: str  # label in the report, e.g. "robust"
    loss: str  # capo or a TRL loss type (train.losses' names)
    settings: dict[str, float] = field(default_factory=dict)  # beta/gamma/tau/kappa/label_smoothing
    grid: dict[str, tuple[float, ...]] = field(default_factory=dict)  # tuned on validation

    def __post_init__(self) -> None:
        keys = {"beta", "gamma", "tau", "kappa", "label_smoothing"}
        bad = sorted((set(self.settings) | set(self.grid)) - keys)
        if bad:
            raise ValueError(f"{self.name}: unknown settings {bad} (known: {sorted(keys)})")
        for key, values in self.grid.items():
            if not values:
                raise ValueError(f"{self.name}.grid.{key}: empty")
        for key, value in self.settings.items():  # the `loss:` section's ranges apply
            check_field(LossParams, key, value, f"settings.{key}")
        for key, values in self.grid.items():
            for i, value in enumerate(values):
                check_field(LossParams, key, value, f"grid.{key}[{i}]")


def _default_variants() -> tuple[StudyVariant, ...]:
    return (
        StudyVariant("sigmoid", "sigmoid"),
        StudyVariant(
            "capo",
            "capo",
            grid={"gamma": (0.5, 1.0, 2.0), "tau": (0.25, 1.0), "kappa": (0.5, 2.0)},
        ),
        StudyVariant("ipo", "ipo"),
        StudyVariant("robust", "robust", grid={"label_smoothing": (0.1, 0.2, 0.3)}),
    )


@dataclass(frozen=True)
class StudyParams:
    """`study:` every variant at every noise level and seed, on the clean test split."""

    variants: tuple[StudyVariant, ...] = field(default_factory=_default_variants)
    noise: tuple[FlipRate, ...] = (0.0, 0.2, 0.4)  # ingest.benchmark.noise levels, every language
    seeds: tuple[NonNegativeInt, ...] = (0, 1, 2)  # data, policy and training seeds
    baseline: str = "sigmoid"  # the variant every other is paired against (DPO)
    validation_pairs: PositiveInt = 900  # clean validation pairs for tuning (held-out questions)
    tune_noise: FlipRate = 0.2  # noise level at which grids are searched, on validation only
    tune_seed: NonNegativeInt = 0  # seed at which grids are searched

    def __post_init__(self) -> None:
        names = [v.name for v in self.variants]
        if len(set(names)) != len(names) or self.baseline not in names:
            raise ValueError(f"variants: names must be unique and include {self.baseline!r}")
        if not self.noise or not self.seeds:
            raise ValueError("noise and seeds must not be empty")
