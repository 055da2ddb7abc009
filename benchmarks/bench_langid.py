"""Measure capo_pipelines.data.langid on real short answers and dialog lines; print Markdown tables.

    .venv/bin/python benchmarks/bench_langid.py                 # CONFIDENT (0.9)
    .venv/bin/python benchmarks/bench_langid.py --confidence 0.8 0.9 0.95

For each confidence threshold: the gate's false-rejection rate and the fidelity judge's gold
fidelity per language on the gold answers of tests/langid_data.py, how often the judge
rejects an answer in the wrong language (a gold answer of language T under a prompt in L),
and the share of French dialog rows quarantined (and of foreign rows caught) by the gate.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from capo_pipelines.data.langid import CONFIDENT, faithful, language_mismatch
from tests.langid_data import (
    FOREIGN_DIALOG,
    FRENCH_DIALOG,
    LANGUAGES,
    gold_answers,
)


def gold_rates(gold: pd.DataFrame, confidence: float) -> pd.DataFrame:
    """Per language: gate false-rejection rate and gold fidelity."""
    texts, codes = gold["text"].tolist(), gold["language"].tolist()
    gold = gold.assign(
        gate=language_mismatch(texts, codes, LANGUAGES, confidence=confidence),
        fidelity=faithful(texts, codes, LANGUAGES, confidence=confidence),
    )
    return gold.groupby("language")[["gate", "fidelity"]].mean()


def wrong_language_rates(gold: pd.DataFrame, kind: str | None, confidence: float) -> pd.DataFrame:
    """Rows: the answer's true language; columns: the prompt's; cell: share judged unfaithful."""
    rows = gold if kind is None else gold[gold["kind"] == kind]
    table = {}
    for label in LANGUAGES:
        ok = faithful(rows["text"].tolist(), [label] * len(rows), LANGUAGES, confidence=confidence)
        table[label] = pd.Series(~ok).groupby(rows["language"].to_numpy()).mean()
    return pd.DataFrame(table).loc[list(LANGUAGES), list(LANGUAGES)]


def dialog_rates(confidence: float) -> dict[str, float]:
    """Gate on dialog rows (prompt or answer flagged quarantines the row)."""

    def share(rows: list[tuple[str, str, str]]) -> float:
        bad = np.zeros(len(rows), dtype=bool)
        for column in (1, 2):
            texts, codes = [r[column] for r in rows], [r[0] for r in rows]
            bad |= language_mismatch(texts, codes, LANGUAGES, confidence=confidence)
        return float(bad.mean())

    french = [("fr", p, a) for p, a in FRENCH_DIALOG]
    foreign_as_french = [("fr", p, a) for _, p, a in FOREIGN_DIALOG]
    return {"french_quarantined": share(french), "foreign_caught": share(foreign_as_french)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--confidence", type=float, nargs="+", default=[CONFIDENT])
    args = parser.parse_args()
    gold = pd.DataFrame(gold_answers(), columns=["language", "kind", "text"])
    print(f"{len(gold)} gold answers: {gold.groupby('kind').size().to_dict()}\n")
    for confidence in args.confidence:
        start = time.perf_counter()
        print(f"## confidence {confidence}\n")
        print(gold_rates(gold, confidence).round(4).T.to_markdown(), "\n")
        for kind in ("number", None):
            print(f"wrong-language rejection ({kind or 'all gold'}):\n")
            print(wrong_language_rates(gold, kind, confidence).round(3).to_markdown(), "\n")
        print(dialog_rates(confidence), f"({time.perf_counter() - start:.1f} s)\n")


if __name__ == "__main__":
    main()
