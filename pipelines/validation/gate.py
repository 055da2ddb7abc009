"""The validation gate: per-language failing fractions, errored and table-level expectations."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field

import pandas as pd

from capo_pipelines.validation.outcomes import ExpectationOutcome

__all__ = ["GateReport", "evaluate_gate", "language_stats", "row_stats"]

_MISSING = "<missing>"


@dataclass(frozen=True)
class GateReport:
    """Whether the data may pass, and why not, in sentences a person can act on."""

    passed: bool
    problems: tuple[str, ...] = ()
    counts: dict[str, int] = field(default_factory=dict)  # read, accepted, quarantined
    # configured languages with rows, but fewer than min_language_rows: not gated alone
    below_floor: tuple[str, ...] = ()
    min_language_rows: int = 0

    def summary(self) -> str:
        head = (
            f"validation {'passed' if self.passed else 'failed'}: {self.counts.get('read', 0)}"
            f" rows read, {self.counts.get('accepted', 0)} accepted,"
            f" {self.counts.get('quarantined', 0)} quarantined"
        )
        return "\n".join([head, *(f"  - {p}" for p in self.problems), *self._floor_note()])

    def _floor_note(self) -> list[str]:
        if not self.below_floor:
            return []
        return [
            f"  note: not gated alone, under min_language_rows {self.min_language_rows} rows"
            f" (counted in the overall share): {', '.join(self.below_floor)}"
        ]


def language_stats(
    languages: pd.Series, failed: pd.Series, configured: Sequence[str]
) -> dict[str, dict[str, object]]:
    """Rows, quarantined rows, pass rate and top failure reasons per language value.

    Every configured language is listed (pass_rate None without rows); so is any other
    value seen in the data, so unexpected languages show up in the report too.
    """
    keys = languages.astype(object).where(languages.notna(), _MISSING).astype(str)
    stats: dict[str, dict[str, object]] = {}
    for lang in dict.fromkeys([*configured, *sorted(keys.unique())]):
        stats[lang] = row_stats(failed[(keys == lang).to_numpy()])
    return stats


def row_stats(failed: pd.Series) -> dict[str, object]:
    """Rows, quarantined rows, pass rate and the three most failed expectations."""
    bad = failed[failed.map(len) > 0]
    reasons = Counter(name for names in bad for name in names).most_common(3)
    return {
        "rows": len(failed),
        "quarantined": len(bad),
        "pass_rate": round(1 - len(bad) / len(failed), 6) if len(failed) else None,
        "top_failures": dict(reasons),
    }


def _outcome_problems(outcomes: Sequence[ExpectationOutcome]) -> list[str]:
    problems = []
    for o in outcomes:
        if o.error is not None:
            problems.append(f"expectation errored (counts as failed): {o.name}: {o.error}")
        elif o.level == "table" and not o.success:
            problems.append(f"table-level expectation failed: {o.name}")
        elif not o.success and not 0 < len(o.unexpected_index) == o.unexpected_count:
            problems.append(f"{o.name} failed for the column as a whole (no rows to quarantine)")
    return problems


def _fraction_problem(label: str, stat: dict[str, object], limit: float) -> str | None:
    rows, bad = int(stat["rows"]), int(stat["quarantined"])
    if rows == 0 or bad / rows <= limit:
        return None
    reasons = ", ".join(f"{k} x{v}" for k, v in stat["top_failures"].items())
    return (
        f"{label}: {bad}/{rows} rows ({bad / rows:.1%}) quarantined, above"
        f" max_failing_fraction {limit:.1%} (most failed: {reasons})"
    )


def evaluate_gate(
    outcomes: Sequence[ExpectationOutcome],
    stats: dict[str, dict[str, object]],
    overall: dict[str, object],
    configured: Sequence[str],
    max_failing_fraction: float,
    min_language_rows: int = 0,
) -> GateReport:
    """Fail on any errored or table-level failure, or a language/overall share over the limit.

    A configured language with rows, but fewer than ``min_language_rows``, is not gated
    alone (one bad row in a handful is no rate): its rows count in the overall share only,
    and the report lists it under ``below_floor``.
    """
    problems = _outcome_problems(outcomes)
    below = tuple(lang for lang in configured if 0 < int(stats[lang]["rows"]) < min_language_rows)
    gated = [lang for lang in configured if lang not in below]
    labelled = [(f"language {lang}", stats[lang]) for lang in gated]
    for label, stat in [*labelled, ("all languages", overall)]:
        problem = _fraction_problem(label, stat, max_failing_fraction)
        problems += [problem] if problem else []
    rows, bad = int(overall["rows"]), int(overall["quarantined"])
    counts = {"read": rows, "accepted": rows - bad, "quarantined": bad}
    return GateReport(
        passed=not problems,
        problems=tuple(problems),
        counts=counts,
        below_floor=below,
        min_language_rows=min_language_rows,
    )
