"""Validate a pairs table end to end: suite, checkpoint, quarantine, per-language gate."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from capo_pipelines.data.translation_quality import confidence_quantiles
from capo_pipelines.params import ValidateParams
from capo_pipelines.validation.checkpoint import run_checkpoint
from capo_pipelines.validation.docs import add_gate_note, clear_site, make_readable_offline
from capo_pipelines.validation.gate import GateReport, evaluate_gate, language_stats, row_stats
from capo_pipelines.validation.outcomes import ExpectationOutcome, collect_outcomes
from capo_pipelines.validation.quarantine import failed_expectations, split_rows
from capo_pipelines.validation.stable_docs import stabilize_site
from capo_pipelines.validation.suite import SPLITS, SUITE_NAME, build_suite

__all__ = ["ValidationRun", "validate_pairs"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ValidationRun:
    """What one validation produced: the row split, the outcomes and the gate's verdict."""

    accepted: pd.DataFrame
    quarantined: pd.DataFrame
    outcomes: tuple[ExpectationOutcome, ...]
    languages: dict[str, dict[str, Any]]
    gate: GateReport
    sources: dict[str, dict[str, Any]] = field(default_factory=dict)  # the same, per source

    def accepted_splits(self) -> dict[str, pd.DataFrame]:
        """Accepted rows per split (train, test), in input order."""
        by_split = self.accepted["split"] if "split" in self.accepted else pd.Series(dtype=str)
        return {s: self.accepted[by_split == s].reset_index(drop=True) for s in SPLITS}

    def metrics(self) -> dict[str, Any]:
        """The reports/validation.json document (DVC metrics)."""
        return {
            "suite": SUITE_NAME,
            "passed": self.gate.passed,
            "rows": self.gate.counts,
            "pass_rate": _rate(self.gate.counts),
            "expectations": {
                o.name: {"success": o.passed, "unexpected": o.unexpected_count}
                for o in self.outcomes
            },
            "errored_expectations": [o.name for o in self.outcomes if o.error is not None],
            "languages": {
                lang: {k: v for k, v in stat.items() if k != "top_failures"}
                for lang, stat in self.languages.items()
            },
            "sources": {
                name: {k: v for k, v in stat.items() if k != "top_failures"}
                for name, stat in self.sources.items()
            },
            "problems": list(self.gate.problems),
            # languages whose share was not gated alone (too few rows), only in the overall one
            "language_floor": {
                "min_language_rows": self.gate.min_language_rows,
                "not_gated_alone": list(self.gate.below_floor),
            },
            "translation_confidence": translation_summary(self.accepted, self.quarantined),
        }


def translation_summary(
    accepted: pd.DataFrame, quarantined: pd.DataFrame
) -> dict[str, dict[str, Any]]:
    """Per language, over the pairs that have a translation_confidence: how many, its
    0.1/0.5/0.9 quantiles (over accepted and quarantined together) and the share validation
    quarantined. Empty when no pair has one (nothing was translated)."""
    column = "translation_confidence"
    frames = [
        f[["language", column]].assign(quarantined=flag)
        for f, flag in ((accepted, False), (quarantined, True))
        if column in f and "language" in f
    ]
    if not frames:
        return {}
    rows = pd.concat(frames, ignore_index=True).dropna(subset=[column])
    out = {}
    for lang, group in rows.groupby("language", sort=True):
        out[str(lang)] = {
            "pairs": len(group),
            **confidence_quantiles(group[column]),
            "quarantined": int(group["quarantined"].sum()),
            "quarantined_share": round(float(group["quarantined"].mean()), 4),
        }
    return out


def _rate(counts: dict[str, int]) -> float | None:
    return round(counts["accepted"] / counts["read"], 6) if counts["read"] else None


def validate_pairs(
    df: pd.DataFrame, params: ValidateParams, docs_dir: Path | None = None
) -> ValidationRun:
    """Run the suite over ``df`` (all splits together) and split rows; never raises on bad data.

    With ``docs_dir``, GX Data Docs for this run are (re)built there, readable offline.
    """
    df = df.reset_index(drop=True)  # GX reports failing rows by index: make it positional
    if docs_dir is not None:
        clear_site(docs_dir)
    start = time.perf_counter()
    result = run_checkpoint(df, build_suite(params, df.columns), docs_dir)
    log.info("GX checkpoint over %d rows: %.1f s", len(df), time.perf_counter() - start)
    if docs_dir is not None:
        make_readable_offline(docs_dir)
    outcomes = tuple(collect_outcomes(result))
    failed = failed_expectations(len(df), outcomes)
    accepted, quarantined = split_rows(df, failed)
    langs = df["language"] if "language" in df else pd.Series([None] * len(df), dtype=object)
    stats = language_stats(langs, failed, params.languages)
    gate = evaluate_gate(
        outcomes,
        stats,
        row_stats(failed),
        params.languages,
        params.max_failing_fraction,
        params.min_language_rows,
    )
    if docs_dir is not None:
        add_gate_note(docs_dir, gate.passed, gate.summary())
        stabilize_site(docs_dir)  # last: no time stamps or random ids in the pages
    sources = language_stats(df["source"], failed, ()) if "source" in df else {}
    return ValidationRun(accepted, quarantined, outcomes, stats, gate, sources)
