"""Means over seeds with Student-t 95% confidence intervals, and paired differences.

    mean_ci([0.91, 0.93, 0.92])                  # Estimate(mean=0.92, low=0.895, high=0.945, n=3)
    paired_ci(capo_runs, dpo_runs, "reward_accuracy")   # CAPO - DPO per seed, then mean_ci

With n seeds the interval is mean +- t(0.975, n-1) * sd / sqrt(n) (sd with n-1 degrees of
freedom). A paired difference subtracts the baseline's run of the same seed and noise level
(same data, same starting policy) before averaging, which removes the seed-to-seed variance
both runs share.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from scipy import stats

__all__ = ["Estimate", "mean_ci", "metric_of", "paired_ci"]


@dataclass(frozen=True)
class Estimate:
    mean: float
    low: float | None  # None with a single value: no interval
    high: float | None
    n: int

    def as_dict(self) -> dict[str, Any]:
        """As JSON: a mean of no values (NaN) is null, since JSON has no NaN."""
        mean = None if math.isnan(self.mean) else self.mean
        return {"mean": mean, "low": self.low, "high": self.high, "n": self.n}

    def excludes_zero(self) -> bool:
        return self.low is not None and (self.low > 0 or self.high < 0)


def mean_ci(values: Iterable[float], level: float = 0.95) -> Estimate:
    """Mean and the two-sided Student-t confidence interval of ``values`` (NaNs dropped)."""
    xs = [float(x) for x in values if x is not None and not math.isnan(float(x))]
    if not xs:
        return Estimate(math.nan, None, None, 0)
    mean = sum(xs) / len(xs)
    if len(xs) == 1:
        return Estimate(mean, None, None, 1)
    sd = math.sqrt(sum((x - mean) ** 2 for x in xs) / (len(xs) - 1))
    half = float(stats.t.ppf(0.5 + level / 2, len(xs) - 1)) * sd / math.sqrt(len(xs))
    return Estimate(mean, mean - half, mean + half, len(xs))


def metric_of(run: Mapping[str, Any], key: str, language: str | None = None) -> float | None:
    """``key`` of a run record, overall or for one language (None when absent)."""
    source = run if language is None else run.get("per_language", {}).get(language, {})
    value = source.get(key)
    return None if value is None else float(value)


def paired_ci(
    runs: Sequence[Mapping[str, Any]],
    base: Sequence[Mapping[str, Any]],
    key: str,
    language: str | None = None,
    level: float = 0.95,
) -> Estimate:
    """mean_ci of run - base over the seeds both have (matched on ``seed``), at ``level``."""
    by_seed = {b["seed"]: metric_of(b, key, language) for b in base}
    diffs = []
    for run in runs:
        value, other = metric_of(run, key, language), by_seed.get(run["seed"])
        if value is not None and other is not None:
            diffs.append(value - other)
    return mean_ci(diffs, level)
