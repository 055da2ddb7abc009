"""The loss settings: their one definition, with defaults and ranges.

    settings = LossSettings(beta=0.1, gamma=1.0, kappa=0.5, direction="up")  # checked here
    check_setting("kappa", 0)  # ValueError: kappa must be > 0, got 0

Everything that takes a loss setting reads it from here: the CAPO loss's defaults and checks
(capo/loss.py), CAPOConfig (capo/config.py), the `loss:` section of params.yaml
(pipelines/params, which parses this class), the noise study's variants and grids
(pipelines/params/study_schema.py) and the model card (pipelines/models/registry.py).
Which loss reads which setting is named here too: CAPO_SETTINGS, CDPO_SETTINGS,
ODPO_SETTINGS, TRL_SETTINGS and SELECTION_SETTINGS (the workflow's "filtered" DPO).
A range is an ``Annotated``
``Range`` on the field, so the params schema and CAPOConfig refuse the same values with the
same words. The equation each setting enters is in capo/loss.py and docs/design.md §1.

Pure Python: no torch, so `capo check-params` stays fast.
"""

from __future__ import annotations

import dataclasses
import math
import types
import typing
from dataclasses import dataclass
from typing import Annotated, Any

__all__ = [
    "CAPO_SETTINGS",
    "CDPO_SETTINGS",
    "CORE_LOSSES",
    "DIRECTIONS",
    "ODPO_SETTINGS",
    "SELECTION_SETTINGS",
    "SETTING_NAMES",
    "TRL_SETTINGS",
    "FlipRate",
    "Fraction",
    "LossSettings",
    "NonNegative",
    "Positive",
    "Range",
    "check_setting",
]


@dataclass(frozen=True)
class Range:
    """Bounds of a number: ge/gt below, le/lt above (None = unbounded)."""

    ge: float | None = None
    gt: float | None = None
    le: float | None = None
    lt: float | None = None

    def __str__(self) -> str:
        low, high = self.ge if self.gt is None else self.gt, self.le if self.lt is None else self.lt
        if low is not None and high is not None:
            left, right = "[" if self.gt is None else "(", "]" if self.lt is None else ")"
            return f"in {left}{low:g}, {high:g}{right}"
        if low is not None:
            return f"{'>=' if self.gt is None else '>'} {low:g}"
        return f"{'<=' if self.lt is None else '<'} {high:g}"

    def contains(self, value: float) -> bool:
        return not (
            (self.ge is not None and not value >= self.ge)
            or (self.gt is not None and not value > self.gt)
            or (self.le is not None and not value <= self.le)
            or (self.lt is not None and not value < self.lt)
        )


NonNegative = Annotated[float, Range(ge=0)]
Positive = Annotated[float, Range(gt=0)]
FlipRate = Annotated[float, Range(ge=0, lt=0.5)]  # label flips: at 0.5 the wrong label wins
Fraction = Annotated[float, Range(ge=0, le=1)]  # shares and thresholds: [0, 1]

DIRECTIONS = ("down", "up")  # (2c)^gamma, or the focal-style (2(1 - c))^gamma


@dataclass(frozen=True)
class LossSettings:
    """One loss's hyper-parameters. A TRL loss reads beta and label_smoothing (TRL_SETTINGS);
    CAPO reads CAPO_SETTINGS, cDPO CDPO_SETTINGS, ODPO ODPO_SETTINGS; the workflow's filtered
    DPO selects its pairs with SELECTION_SETTINGS. Constructing one checks every field."""

    beta: Positive = 0.1  # scale of the implicit rewards r = beta * (log pi - log pi_ref)
    gamma: NonNegative = 1.0  # CAPO: exponent of the model-confidence factor; 0 = none
    tau: Positive = 1.0  # CAPO: temperature of the model confidence c = sigmoid(m / tau)
    kappa: Positive = 1.0  # CAPO: slope of the data confidence q_s = sigmoid(kappa (s_w - s_l))
    label_smoothing: FlipRate = 0.0  # assumed flip rate: robust, cdpo, capo
    # CAPO: up = focal-style (2(1 - c))^gamma, down = (2c)^gamma. "up" won on validation in
    # every regime of noise studies v2 and v3; "down" lost to DPO in every regime of v2.
    direction: str = "up"
    use_scores: bool = True  # CAPO: q_s from score_chosen/score_rejected; false: q_s = 1
    use_translation_confidence: bool = True  # CAPO: q_t = translation_confidence where present
    offset_scale: NonNegative = 1.0  # ODPO: offset delta = offset_scale * (s_w - s_l)
    min_score_margin: float | None = None  # filtered: drop s_w - s_l below it; None = off
    min_translation_confidence: Fraction = 0.0  # filtered: drop translated pairs below it; 0 = off

    def __post_init__(self) -> None:
        for name in SETTING_NAMES:
            object.__setattr__(self, name, check_setting(name, getattr(self, name)))


SETTING_NAMES = tuple(f.name for f in dataclasses.fields(LossSettings))
TRL_SETTINGS = ("beta", "label_smoothing")  # what TRL's own losses read of LossSettings
CAPO_SETTINGS = ("beta", "gamma", "tau", "kappa", "label_smoothing", "direction")  # CAPO reads
CAPO_SETTINGS += ("use_scores", "use_translation_confidence")
CDPO_SETTINGS = ("beta", "label_smoothing")  # cDPO: eps is label_smoothing
ODPO_SETTINGS = ("beta", "offset_scale", "use_scores")  # ODPO: the offset from the scores
# Read by no loss of the core: the workflow's data selection before "filtered" DPO trains
# (pipelines/models/selection.py).
SELECTION_SETTINGS = ("min_score_margin", "min_translation_confidence")
# The losses capo computes itself, through TRL's "sigmoid" branch with its logsigmoid routed
# (capo/trl_adapter.py), and the settings each reads.
CORE_LOSSES = {"capo": CAPO_SETTINGS, "cdpo": CDPO_SETTINGS, "odpo": ODPO_SETTINGS}
_HINTS = typing.get_type_hints(LossSettings, include_extras=True)


def check_setting(name: str, value: Any) -> Any:
    """``value`` checked as loss setting ``name``: its type, range or allowed words.

    Returns the value (an int where a float is expected becomes a float; None where the
    setting may be None, min_score_margin's "off"); raises ValueError naming the setting,
    or KeyError for a name that is not a loss setting.
    """
    if name not in _HINTS:
        raise KeyError(f"{name!r} is not a loss setting (known: {', '.join(SETTING_NAMES)})")
    hint = _HINTS[name]
    kind, *extras = typing.get_args(hint) if typing.get_origin(hint) is Annotated else (hint,)
    if isinstance(kind, types.UnionType):  # `float | None`: None means "off"
        if value is None:
            return None
        (kind,) = (k for k in typing.get_args(kind) if k is not type(None))
    if kind is bool:
        if not isinstance(value, bool):
            raise ValueError(f"{name} must be true or false, got {value!r}")
        return value
    if kind is str:
        if value not in DIRECTIONS:
            raise ValueError(f"{name} must be one of {', '.join(DIRECTIONS)}, got {value!r}")
        return value
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError(f"{name} must be a number, got {value!r}")
    value = float(value)
    if not math.isfinite(value):
        raise ValueError(f"{name} must be finite, got {value!r}")
    for bound in (e for e in extras if isinstance(e, Range)):
        if not bound.contains(value):
            raise ValueError(f"{name} must be {bound}, got {value!r}")
    return value
