"""Split validated rows into accepted and quarantined, naming the expectations each failed."""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
import pandas as pd

from capo_pipelines.validation.outcomes import ExpectationOutcome

__all__ = ["FAILED_COLUMN", "failed_expectations", "split_rows"]

FAILED_COLUMN = "failed_expectations"


def failed_expectations(n_rows: int, outcomes: Iterable[ExpectationOutcome]) -> pd.Series:
    """Per row position 0..n_rows-1, the sorted names of the row-level expectations it failed."""
    positions, names = [], []
    for outcome in outcomes:
        if outcome.level == "row" and outcome.unexpected_index:
            positions.append(np.asarray(outcome.unexpected_index, dtype=np.int64))
            names.append(np.full(len(outcome.unexpected_index), outcome.name, dtype=object))
    failed = pd.Series([[] for _ in range(n_rows)], dtype=object)
    if positions:
        hits = pd.Series(np.concatenate(names), index=np.concatenate(positions))
        grouped = hits.groupby(level=0).agg(lambda s: sorted(set(s)))
        failed.iloc[grouped.index.to_numpy()] = grouped.to_numpy()
    return failed


def split_rows(df: pd.DataFrame, failed: pd.Series) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(accepted, quarantined) rows of ``df``, given ``failed_expectations`` per row position.

    ``quarantined`` has the input columns plus ``failed_expectations`` (list of names);
    every input row lands in exactly one of the two frames.
    """
    bad = failed.map(len).to_numpy() > 0
    accepted = df.loc[~bad].reset_index(drop=True)
    quarantined = df.loc[bad].assign(**{FAILED_COLUMN: failed[bad].to_numpy()})
    return accepted, quarantined.reset_index(drop=True)
