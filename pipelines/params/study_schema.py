"""`study:` section of params.yaml: the label-noise study (pipelines/noise_study, studies/noise).

A variant's ``settings``, ``grid`` and ``points`` hold loss settings (LossSettings' names,
checked by their ranges) and the training knobs of TRAIN_KNOBS (learning_rate, epochs),
checked like train's own. The protocol (docs/design.md §5.1): stage A tunes the baseline's
grid, which holds training knobs only (the settings every method shares), per regime on
validation at ``tune_seed``; stage B tunes every other variant's own knobs at stage A's
choice, each on exactly ``budget`` points; the test seeds never include ``tune_seed``.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from typing import Any

from capo_pipelines.params.data import NOISE_MODELS
from capo_pipelines.params.parse import (
    FlipRate,
    Fraction,
    NonNegative,
    NonNegativeInt,
    ParamsError,
    PositiveInt,
    check_field,
)
from capo_pipelines.params.train_schema import _OVERRIDABLE, TrainParams, check_loss_setting

__all__ = ["ENGINES", "TRAIN_KNOBS", "StudyParams", "StudyRegime", "StudyVariant", "tuning_points"]

TRAIN_KNOBS = ("learning_rate", "epochs")  # train: keys a variant may set or tune


def _check_knob(key: str, value: Any, where: str) -> Any:
    """A variant's setting: a training knob (train's own type and range) or a loss setting."""
    if key in TRAIN_KNOBS:
        try:
            return check_field(TrainParams, key, value, where)
        except ParamsError as err:
            raise ValueError(str(err)) from err
    return check_loss_setting(key, value, where)


ENGINES = ("sequential", "dask")  # how the study's trials run (pipelines/study_engine.py)


@dataclass(frozen=True)
class StudyVariant:
    """One method of the study: a loss type, its fixed settings and what it tunes.

    ``grid`` is a product of values per key; ``points`` lists grid points one by one (for
    budgets a product cannot hit, e.g. six points over gamma, kappa and direction); a
    variant has one or the other. ``regimes`` limits it to some regimes (a translation-
    confidence filter needs translated pairs); empty: every regime.
    """

    name: str  # label in the report, e.g. "robust"
    loss: str  # capo or a TRL loss type (train.losses' names)
    settings: dict[str, Any] = field(default_factory=dict)  # `loss:` keys and TRAIN_KNOBS
    grid: dict[str, tuple[Any, ...]] = field(default_factory=dict)  # tuned on validation
    points: tuple[dict[str, Any], ...] = ()  # tuned on validation, point by point
    clean_only: bool = False  # train on the pairs without label noise only: the oracle ceiling
    regimes: tuple[str, ...] = ()  # run only in these regimes (empty: all)

    def __post_init__(self) -> None:
        keys = set(_OVERRIDABLE) | set(TRAIN_KNOBS)
        named = set(self.settings) | set(self.grid) | {k for p in self.points for k in p}
        bad = sorted(named - keys)
        if bad:
            raise ValueError(f"{self.name}: unknown settings {bad} (known: {sorted(keys)})")
        if self.grid and self.points:
            raise ValueError(f"{self.name}: a grid or points, not both")
        for key, values in self.grid.items():
            if not values:
                raise ValueError(f"{self.name}.grid.{key}: empty")
        for key, value in self.settings.items():  # the `loss:` and `train:` ranges apply
            _check_knob(key, value, f"settings.{key}")
        for key, values in self.grid.items():
            for i, value in enumerate(values):
                _check_knob(key, value, f"grid.{key}[{i}]")
        for i, point in enumerate(self.points):
            if not point:
                raise ValueError(f"{self.name}.points[{i}]: empty")
            for key, value in point.items():
                _check_knob(key, value, f"points[{i}].{key}")

    @property
    def tuned(self) -> bool:
        return bool(self.grid or self.points)

    def runs_in(self, regime: str) -> bool:
        return not self.regimes or regime in self.regimes


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


def _points(variant: StudyVariant) -> list[dict[str, Any]]:
    """A variant's tuning points in order: ``points``, or its grid's product with gamma 0's
    direction kept once (it is moot there). Empty for an untuned variant."""
    if variant.points:
        return [dict(p) for p in variant.points]
    keys = sorted(variant.grid)
    out: list[dict[str, Any]] = []
    for values in itertools.product(*(variant.grid[k] for k in keys)):
        point = dict(zip(keys, values, strict=True))
        gamma = point.get("gamma", variant.settings.get("gamma"))
        if gamma == 0 and "direction" in point:
            point["direction"] = "down"
        if point not in out:
            out.append(point)
    return out if keys else []


def _default_variants() -> tuple[StudyVariant, ...]:
    """Study v3's methods (params.yaml holds the same, with the protocol)."""
    no_data = {"use_scores": False, "use_translation_confidence": False}
    eps = (0.05, 0.1, 0.2, 0.3, 0.4, 0.45)
    return (
        StudyVariant(
            "sigmoid", "sigmoid", grid={"learning_rate": (5e-5, 1e-4, 2e-4), "epochs": (1.0, 2.0)}
        ),
        StudyVariant(
            "capo",
            "capo",
            points=tuple(
                {"gamma": g, "direction": d, "kappa": k}
                for g, d, k in (
                    (1.0, "up", 0.5),
                    (2.0, "up", 0.5),
                    (4.0, "up", 0.5),
                    (1.0, "up", 2.0),
                    (4.0, "up", 2.0),
                    (1.0, "down", 0.5),
                )
            ),
        ),
        StudyVariant(
            "focal",
            "capo",
            settings={"direction": "up", **no_data},
            grid={"gamma": (0.5, 1.0, 2.0, 3.0, 4.0, 6.0)},
        ),
        StudyVariant(
            "capo-q", "capo", settings={"gamma": 0.0}, grid={"kappa": (0.25, 0.5, 1, 2, 4, 8)}
        ),
        StudyVariant("cdpo", "cdpo", grid={"label_smoothing": eps}),
        StudyVariant("robust", "robust", grid={"label_smoothing": eps}),
        StudyVariant("odpo", "odpo", grid={"offset_scale": (0.01, 0.03, 0.1, 0.2, 0.5, 1.0)}),
        StudyVariant(
            "filter-score",
            "filtered",
            grid={"min_score_margin": (-1.0, 0.0, 0.5, 1.0, 2.0, 4.0)},
        ),
        StudyVariant(
            "filter-tc",
            "filtered",
            grid={"min_translation_confidence": (0.1, 0.2, 0.3, 0.4, 0.5, 0.6)},
            regimes=("translation-0.4",),
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
    tune_seed: NonNegativeInt = 5  # seed at which grids are searched, per regime; not a test seed
    budget: PositiveInt = 6  # stage B: grid points every tuned variant but the baseline gets
    protocol: str = ""  # the pre-registered protocol, printed at the top of the report
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
        if self.tune_seed in self.seeds:
            raise ValueError(f"tune_seed: {self.tune_seed} is also a test seed (seeds)")
        base = next(v for v in self.variants if v.name == self.baseline)
        shared = {k for p in _points(base) for k in p}
        if shared - set(TRAIN_KNOBS):
            raise ValueError(
                f"variants: the baseline {base.name!r} tunes only {list(TRAIN_KNOBS)} (stage A,"
                f" shared by every method), not {sorted(shared - set(TRAIN_KNOBS))}"
            )
        for v in self.variants:
            n = len(_points(v))
            if v.name != self.baseline and v.tuned and n != self.budget:
                raise ValueError(
                    f"variants: {v.name!r} tunes {n} points, the budget is {self.budget}"
                    " (every method gets the same number)"
                )
            unknown = sorted(set(v.regimes) - set(regimes))
            if unknown:
                raise ValueError(f"variants: {v.name!r} names unknown regimes {unknown}")
        if self.engine not in ENGINES:
            raise ValueError(f"engine: expected one of {ENGINES}: {self.engine!r}")
        if self.sft_questions not in ("all", "disjoint"):
            raise ValueError(f"sft_questions: expected all or disjoint: {self.sft_questions!r}")


tuning_points = _points
