"""`study:` section of params.yaml: the label-noise study (capo/study, studies/noise)."""

from __future__ import annotations

from dataclasses import dataclass, field

__all__ = ["StudyParams", "StudyVariant"]


@dataclass(frozen=True)
class StudyVariant:
    """One loss of the study: a TRL/capo loss type, its fixed settings and its tuning grid."""

    name: str  # label in the report, e.g. "cdpo"
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
        StudyVariant("cdpo", "sigmoid", grid={"label_smoothing": (0.1, 0.2, 0.3)}),
    )


@dataclass(frozen=True)
class StudyParams:
    """`study:` every variant at every noise level and seed, on the clean test split."""

    variants: tuple[StudyVariant, ...] = field(default_factory=_default_variants)
    noise: tuple[float, ...] = (0.0, 0.2, 0.4)  # ingest.benchmark.noise levels, every language
    seeds: tuple[int, ...] = (0, 1, 2)  # data, policy and training seeds
    baseline: str = "sigmoid"  # the variant every other is paired against (DPO)
    validation_pairs: int = 900  # clean validation pairs for tuning (held-out questions)
    tune_noise: float = 0.2  # noise level at which grids are searched, on validation only
    tune_seed: int = 0  # seed at which grids are searched

    def __post_init__(self) -> None:
        names = [v.name for v in self.variants]
        if len(set(names)) != len(names) or self.baseline not in names:
            raise ValueError(f"variants: names must be unique and include {self.baseline!r}")
        if not self.noise or not self.seeds:
            raise ValueError("noise and seeds must not be empty")
        if any(not 0.0 <= x < 0.5 for x in (*self.noise, self.tune_noise)):
            raise ValueError("noise levels must be in [0, 0.5)")
        if self.validation_pairs < 1:
            raise ValueError(f"validation_pairs: must be >= 1, got {self.validation_pairs}")
