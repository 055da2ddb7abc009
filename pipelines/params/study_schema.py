"""`study:` section of params.yaml: the label-noise study (pipelines/study, studies/noise)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from capo_pipelines.params.data import NOISE_MODELS
from capo_pipelines.params.parse import FlipRate, Fraction, NonNegative, NonNegativeInt, PositiveInt
from capo_pipelines.params.train_schema import _OVERRIDABLE, check_loss_setting

__all__ = ["ENGINES", "StudyParams", "StudyRegime", "StudyVariant"]

ENGINES = ("sequential", "dask")  # how the study's trials run (pipelines/study_engine.py)


@dataclass(frozen=True)
class StudyVariant:
    """One loss of the study: a TRL/capo loss type, its fixed settings and its tuning grid."""

    name: str  # label in the report, e.g. "robust"
    loss: str  # capo or a TRL loss type (train.losses' names)
    settings: dict[str, Any] = field(default_factory=dict)  # `loss:` keys (gamma, direction, ...)
    grid: dict[str, tuple[Any, ...]] = field(default_factory=dict)  # tuned on validation
    clean_only: bool = False  # train on the pairs without label noise only: the oracle ceiling

    def __post_init__(self) -> None:
        keys = set(_OVERRIDABLE)
        bad = sorted((set(self.settings) | set(self.grid)) - keys)
        if bad:
            raise ValueError(f"{self.name}: unknown settings {bad} (known: {sorted(keys)})")
        for key, values in self.grid.items():
            if not values:
                raise ValueError(f"{self.name}.grid.{key}: empty")
        for key, value in self.settings.items():  # the `loss:` section's ranges apply
            check_loss_setting(key, value, f"settings.{key}")
        for key, values in self.grid.items():
            for i, value in enumerate(values):
                check_loss_setting(key, value, f"grid.{key}[{i}]")


@dataclass(frozen=True)
class StudyRegime:
    """One cell of the study: a benchmark noise model at one level (pipelines/data/benchmark.py)."""

    name: str  # label in the report, e.g. "margin-0.4"
    noise_model: str = "uniform"  # uniform | margin | derived | translation
    noise: FlipRate = 0.0  # share of learnable pairs corrupted (derived: not used)
    score_noise: NonNegative = 1.0  # annotator score noise sd (margin, derived)

    def __post_init__(self) -> None:
        if self.noise_model not in NOISE_MODELS:
            raise ValueError(f"{self.name}: noise_model must be one of {NOISE_MODELS}")


def _default_variants() -> tuple[StudyVariant, ...]:
    return (
        StudyVariant("sigmoid", "sigmoid"),
        StudyVariant(
            "capo",
            "capo",
            grid={"gamma": (0.0, 0.5, 1.0), "direction": ("down", "up"), "kappa": (0.5, 2.0)},
        ),
        StudyVariant("capo-q", "capo", settings={"gamma": 0.0, "kappa": 1.0}),
        StudyVariant(
            "capo-c",
            "capo",
            settings={
                "gamma": 1.0,
                "direction": "down",
                "use_scores": False,
                "use_translation_confidence": False,
            },
        ),
        StudyVariant("robust", "robust", settings={"label_smoothing": 0.1}),
        StudyVariant(
            "focal",
            "capo",
            settings={
                "gamma": 1.0,
                "direction": "up",
                "use_scores": False,
                "use_translation_confidence": False,
            },
        ),
        StudyVariant("oracle", "sigmoid", clean_only=True),
    )


def _default_regimes() -> tuple[StudyRegime, ...]:
    return (
        StudyRegime("clean", "uniform", 0.0),
        StudyRegime("uniform-0.4", "uniform", 0.4),
        StudyRegime("margin-0.4", "margin", 0.4),
        StudyRegime("derived-sd3", "derived", 0.0, score_noise=3.0),
        StudyRegime("translation-0.4", "translation", 0.4),
    )


@dataclass(frozen=True)
class StudyParams:
    """`study:` every variant in every regime and seed, on the clean test split."""

    variants: tuple[StudyVariant, ...] = field(default_factory=_default_variants)
    regimes: tuple[StudyRegime, ...] = field(default_factory=_default_regimes)
    seeds: tuple[NonNegativeInt, ...] = (0, 1, 2, 3, 4)  # data, policy and training seeds
    baseline: str = "sigmoid"  # the variant every other is paired against (DPO)
    candidate: str = "capo"  # the variant the criteria judge
    ablation: str = "capo-q"  # the candidate must beat this one (data confidence alone)
    oracle: str = "oracle"  # the ceiling: DPO on the clean pairs only
    focal: str = "focal"  # the control that up-weights hard pairs without any data confidence
    validation_pairs: PositiveInt = 900  # clean validation pairs (held-out questions) for grids
    tune_seed: NonNegativeInt = 0  # seed at which grids are searched, per regime
    sft_questions: str = "disjoint"  # the study's SFT: all | disjoint (ingest.benchmark)
    sft_share: Fraction = 1.0  # share of SFT questions kept (ingest.benchmark.sft_share)
    sft_epochs: NonNegative = 5.0  # the study's SFT epochs (policy.sft_epochs)
    compare_full_sft: bool = True  # also measure, at tune_seed, the reference of a full SFT
    workers: PositiveInt = 2  # a local cluster's workers, at most (one per core, or per GPU)
    engine: str = "dask"  # sequential (this process) | dask (a Dask cluster, via Prefect)
    address: str = ""  # a running Dask scheduler (tcp://host:8786); empty: start a local one
    retries: NonNegativeInt = 1  # a failing trial is run again this often, then recorded failed

    def __post_init__(self) -> None:
        names = [v.name for v in self.variants]
        if len(set(names)) != len(names) or self.baseline not in names:
            raise ValueError(f"variants: names must be unique and include {self.baseline!r}")
        regimes = [r.name for r in self.regimes]
        if not regimes or len(set(regimes)) != len(regimes) or not self.seeds:
            raise ValueError("regimes (unique names) and seeds must not be empty")
        if self.engine not in ENGINES:
            raise ValueError(f"engine: expected one of {ENGINES}: {self.engine!r}")
        if self.sft_questions not in ("all", "disjoint"):
            raise ValueError(f"sft_questions: expected all or disjoint: {self.sft_questions!r}")
