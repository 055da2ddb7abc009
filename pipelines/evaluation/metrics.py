"""Per-pair and per-language evaluation metrics: pure functions over arrays and DataFrames.

reward_accuracy(r_w, r_l)        # TRL's rewards/accuracies: mean(r_w > r_l)
reward_margin(r_w, r_l)          # TRL's rewards/margins:    mean(r_w - r_l)
answer_matches("Twenty-four.", "twenty four")   # True
summary = summarize(per_pair_frame, ["reward_accuracy", "generation_accuracy"])
"""

from __future__ import annotations

import math
import re
import unicodedata
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

__all__ = [
    "answer_matches",
    "first_line",
    "generation_health",
    "normalize_answer",
    "relative_change",
    "reward_accuracy",
    "reward_margin",
    "summarize",
]

_SPACE = re.compile(r"\s+")


def reward_accuracy(chosen_rewards: np.ndarray, rejected_rewards: np.ndarray) -> float:
    """Share of pairs with r_w > r_l (ties count as wrong, as in TRL); NaN for no pairs."""
    chosen, rejected = np.asarray(chosen_rewards), np.asarray(rejected_rewards)
    return float(np.mean(chosen > rejected)) if chosen.size else math.nan


def reward_margin(chosen_rewards: np.ndarray, rejected_rewards: np.ndarray) -> float:
    """Mean of r_w - r_l over pairs; NaN for no pairs."""
    chosen, rejected = np.asarray(chosen_rewards), np.asarray(rejected_rewards)
    return float(np.mean(chosen - rejected)) if chosen.size else math.nan


def first_line(text: str) -> str:
    """The first non-empty line of a generation: answers are one line, the rest is rambling."""
    for line in str(text).splitlines():
        if line.strip():
            return line.strip()
    return ""


def normalize_answer(text: str) -> str:
    """Unicode NFKC, casefold, drop punctuation (categories P*) and all whitespace."""
    text = unicodedata.normalize("NFKC", str(text)).casefold()
    text = "".join(ch for ch in text if not unicodedata.category(ch).startswith("P"))
    return _SPACE.sub("", text)


def answer_matches(answer: str, gold: str) -> bool:
    """True when the normalised answer equals the normalised, non-empty gold answer."""
    target = normalize_answer(gold)
    return bool(target) and normalize_answer(answer) == target


def relative_change(new: float | None, base: float | None) -> float | None:
    """(new - base) / |base|; 0.0 when both are 0, None when base is 0 (or a value missing)."""
    if new is None or base is None or math.isnan(new) or math.isnan(base):
        return None
    if base == 0:
        return 0.0 if new == 0 else None
    return (new - base) / abs(base)


def _clean(value: Any) -> float | None:
    """A JSON-safe float: NaN (no rows) becomes None."""
    value = float(value)
    return None if math.isnan(value) else value


def _means(frame: pd.DataFrame, columns: Sequence[str], sums: Sequence[str]) -> dict[str, Any]:
    """Column means over their non-null rows, the row count and integer column sums."""
    out: dict[str, Any] = {c: _clean(frame[c].astype(float).mean()) for c in columns}
    out["pairs"] = len(frame)
    out.update({c: int(frame[c].fillna(0).astype(int).sum()) for c in sums})
    return out


def summarize(
    frame: pd.DataFrame, columns: Sequence[str], by: str = "language", sums: Sequence[str] = ()
) -> dict[str, dict[str, Any]]:
    """{"overall": {col: mean, "pairs": n}, "per_language": {lang: {...}}}.

    Means skip nulls, so a column that exists only for some rows (generation accuracy on
    verifiable pairs) averages over those rows; a group with none gets None. ``sums`` are
    counted (e.g. a 0/1 ``verifiable`` column).
    """
    per_group = {
        str(key): _means(group, columns, sums)
        for key, group in frame.groupby(by, sort=True, dropna=False)
    }
    return {"overall": _means(frame, columns, sums), "per_language": per_group}


def generation_health(
    doc: dict[str, Any], *, max_empty_rate: float, max_drop: float
) -> dict[str, Any]:
    """Is the model still answering? Compares a metrics document with its reference policy.

    A model is degenerate when its share of empty answers passes ``max_empty_rate``, or its
    generation accuracy or language fidelity is below the reference policy's (the SFT model,
    ``doc["reference"]``) by more than ``max_drop``. Missing numbers (no verifiable pairs, no
    reference generation) decide nothing and stay None.
    """
    overall, ref = doc.get("overall", {}), doc.get("reference", {}).get("overall", {})

    def drop(key: str) -> float | None:
        a, b = overall.get(key), ref.get(key)
        return None if a is None or b is None else float(b) - float(a)

    health: dict[str, Any] = {
        "empty_rate": overall.get("empty_rate"),
        "generation_accuracy_drop": drop("generation_accuracy"),
        "language_fidelity_drop": drop("language_fidelity"),
        "max_empty_rate": max_empty_rate,
        "max_drop": max_drop,
    }
    reasons = []
    if health["empty_rate"] is not None and health["empty_rate"] > max_empty_rate:
        reasons.append(f"empty answers {health['empty_rate']:.1%} > {max_empty_rate:.1%}")
    for key in ("generation_accuracy", "language_fidelity"):
        value = health[f"{key}_drop"]
        if value is not None and value > max_drop:
            reasons.append(f"{key} {value:.3f} below the policy's (> {max_drop})")
    health["degenerate"], health["reasons"] = bool(reasons), reasons
    return health
