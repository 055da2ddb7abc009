"""What a pull request changes: params, then each loss's metrics per language, with noise flags.

    losses = loss_diffs(metrics_diff)          # from `dvc metrics diff BASE --all --json`
    other = other_metrics(metrics_diff)        # training/data metrics, runtime left out
    md = render_markdown(Report(params_diff, losses, other, base="main", head="abc1234"))

Pure functions over DVC's JSON; running DVC is pipelines/pr_report.py's job. A per-loss metrics
file is one with ``overall`` and ``per_language`` sections (evaluate's metrics/<loss>.json);
its rows show base -> head and the change of reward accuracy, margin, generation accuracy,
language fidelity and empty rate (columns a file lacks are left out). A change is flagged
when it exceeds ``Z`` standard errors of the difference of two independent estimates: for
rates sqrt(p1(1-p1)/n1 + p2(1-p2)/n2) with n the row's test pairs (p smoothed as
(k+1)/(n+2), so a 0 -> 0 row has no zero error); for the margin from ``reward_margin_std``
when the file has it (no flag otherwise). Changes are absolute, never percentages.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from pathlib import PurePosixPath
from typing import Any

__all__ = [
    "METRICS",
    "Cell",
    "LossDiff",
    "Metric",
    "Report",
    "Row",
    "Z",
    "loss_diffs",
    "other_metrics",
]

Z = 2.0  # flag changes beyond Z standard errors (about 95% for a normal difference)


@dataclass(frozen=True)
class Metric:
    key: str
    label: str
    n_keys: tuple[str, ...] = ("pairs",)  # the row's sample size, first present wins
    rate: bool = True  # a proportion (binomial error); else a mean with `<key>_std`


METRICS = (
    Metric("reward_accuracy", "reward accuracy"),
    Metric("reward_margin", "margin", rate=False),
    Metric("generation_accuracy", "generation accuracy", ("verifiable", "pairs")),
    Metric("language_fidelity", "language fidelity", ("verifiable", "pairs")),
    Metric("empty_rate", "empty rate", ("verifiable", "pairs")),
)
# Runtime and throughput: machine noise, shown only with --all.
RUNTIME = re.compile(r"(runtime|per_second|_seconds?|duration|elapsed|throughput|timestamp)$")
# comparison.json repeats every loss's numbers (capo_vs_<baseline>, headline): left out.
DERIVED = re.compile(r"^(\w+_vs_\w+|headline)\.")


@dataclass(frozen=True)
class Cell:
    old: float | None
    new: float | None
    se: float | None = None  # standard error of new - old; None when unknown

    @property
    def change(self) -> float | None:
        if self.old is None or self.new is None:
            return None
        return self.new - self.old

    @property
    def flagged(self) -> bool:
        change = self.change
        return change is not None and self.se is not None and abs(change) > Z * self.se


@dataclass(frozen=True)
class Row:
    group: str  # "overall" or a language code
    n: int | None  # test pairs (head, else base)
    cells: dict[str, Cell]


@dataclass(frozen=True)
class LossDiff:
    loss: str
    path: str
    metrics: tuple[Metric, ...]  # the columns: metrics present at base or head
    rows: list[Row]

    @property
    def changed(self) -> bool:
        return any(c.old != c.new for r in self.rows for c in r.cells.values())

    @property
    def flags(self) -> int:
        return sum(c.flagged for r in self.rows for c in r.cells.values())


@dataclass
class Report:
    params: dict[str, dict[str, dict[str, Any]]]  # `dvc params diff --json`
    losses: list[LossDiff]
    other: list[tuple[str, str, Any, Any]] = field(default_factory=list)  # file, key, old, new
    base: str = "base"
    head: str = "workspace"
    runtime_shown: bool = False


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value) if math.isfinite(value) else None


def _rate_se(old: float, new: float, n_old: float, n_new: float) -> float:
    def var(p: float, n: float) -> float:
        q = (p * n + 1) / (n + 2)
        return q * (1 - q) / n

    return math.sqrt(var(old, n_old) + var(new, n_new))


def _cell(metric: Metric, side: dict[str, dict[str, Any]]) -> Cell:
    """``side`` maps "old"/"new" to the row's flat values at that revision."""
    old, new = (_number(side[s].get(metric.key)) for s in ("old", "new"))
    n_old, n_new = (
        next((_number(side[s].get(k)) for k in metric.n_keys if k in side[s]), None)
        for s in ("old", "new")
    )
    se = None
    if old is not None and new is not None and n_old and n_new and n_old > 0 and n_new > 0:
        if metric.rate:
            se = _rate_se(old, new, n_old, n_new)
        else:
            sds = [_number(side[s].get(f"{metric.key}_std")) for s in ("old", "new")]
            if None not in sds:
                se = math.sqrt(sds[0] ** 2 / n_old + sds[1] ** 2 / n_new)
    return Cell(old, new, se)


def _groups(keys: dict[str, dict[str, Any]]) -> dict[str, dict[str, dict[str, Any]]]:
    """group -> {"old": {metric: value}, "new": {...}} from a file's flat metric keys."""
    groups: dict[str, dict[str, dict[str, Any]]] = {}
    for flat, d in keys.items():
        parts = flat.split(".")
        if parts[0] == "overall" and len(parts) == 2:
            group, metric = "overall", parts[1]
        elif parts[0] == "per_language" and len(parts) == 3:
            group, metric = parts[1], parts[2]
        else:
            continue
        entry = groups.setdefault(group, {"old": {}, "new": {}})
        entry["old"][metric], entry["new"][metric] = d.get("old"), d.get("new")
    return groups


def _loss_diff(path: str, keys: dict[str, dict[str, Any]]) -> LossDiff:
    groups = _groups(keys)
    present = {m for g in groups.values() for side in g.values() for m in side}
    metrics = tuple(m for m in METRICS if m.key in present)
    rows = []
    for group in ["overall", *sorted(g for g in groups if g != "overall")]:
        side = groups.get(group, {"old": {}, "new": {}})
        n = _number(side["new"].get("pairs")) or _number(side["old"].get("pairs"))
        cells = {m.key: _cell(m, side) for m in metrics}
        rows.append(Row(group, None if n is None else int(n), cells))
    return LossDiff(PurePosixPath(path).stem, path, metrics, rows)


def _is_loss_file(keys: dict[str, Any]) -> bool:
    return any(k.startswith("overall.") for k in keys) and any(
        k.startswith("per_language.") for k in keys
    )


def loss_diffs(metrics_diff: dict[str, dict[str, dict[str, Any]]]) -> list[LossDiff]:
    """Per-loss tables, changed losses first (most flags, then largest overall change)."""
    losses = [_loss_diff(p, keys) for p, keys in metrics_diff.items() if _is_loss_file(keys)]

    def order(d: LossDiff) -> tuple:
        overall = d.rows[0].cells.get("reward_accuracy") if d.rows else None
        change = abs(overall.change or 0.0) if overall else 0.0
        return (not d.changed, -d.flags, -change, d.loss)

    return sorted(losses, key=order)


def other_metrics(
    metrics_diff: dict[str, dict[str, dict[str, Any]]], *, runtime: bool = False
) -> list[tuple[str, str, Any, Any]]:
    """Changed metrics outside the per-loss files: (file, key, old, new), by file and key."""
    rows = []
    for path, keys in sorted(metrics_diff.items()):
        if _is_loss_file(keys):
            continue
        for key, d in sorted(keys.items()):
            old, new = d.get("old"), d.get("new")
            if old == new or DERIVED.match(key) or (not runtime and RUNTIME.search(key)):
                continue
            rows.append((path, key, old, new))
    return rows
