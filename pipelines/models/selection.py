"""Data selection before training: the pairs filtered DPO (loss "filtered") trains on.

    kept, report = select_pairs(pairs, LossSettings(min_score_margin=0.5))
    report  # {"pairs": 1500, "kept": 1210, "dropped_score": 290, "dropped_confidence": 0}

The baseline a practitioner would try before a confidence-weighted loss: throw away the pairs
the data itself doubts, then run plain DPO on the rest (docs/design.md §1). Two filters, each
off by default:

- score margin: a scored pair (both score_chosen and score_rejected) is dropped when
  s_w - s_l < ``min_score_margin``; None turns the filter off. Unscored pairs are kept.
- translation confidence: a translated pair is dropped when its translation_confidence is
  below ``min_translation_confidence``; 0 keeps every pair. Pairs without one (NaN, or no
  column at all: not translated) are kept.

A pure function of the pair table and the loss's settings (pandas and numpy; no torch).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from capo.settings import LossSettings
from capo_pipelines.data.contract import confidence_array, score_arrays

__all__ = ["keep_all", "select_pairs"]


def _report(pairs: int, dropped_score: int, dropped_confidence: int) -> dict[str, Any]:
    kept = pairs - dropped_score - dropped_confidence
    return {
        "pairs": pairs,
        "kept": kept,
        "dropped_score": dropped_score,
        "dropped_confidence": dropped_confidence,
    }


def select_pairs(pairs: pd.DataFrame, settings: LossSettings) -> tuple[pd.DataFrame, dict]:
    """The pairs kept by ``settings``' thresholds (index reset) and a report of the counts.

    The report is {"pairs": rows in, "kept": rows out, "dropped_score": ...,
    "dropped_confidence": ...}; a pair that fails both filters counts under dropped_score
    (the score filter applies first), so pairs = kept + dropped_score + dropped_confidence.
    ``pairs`` is not changed.
    """
    n = len(pairs)
    score_ok = np.ones(n, dtype=bool)
    scores = score_arrays(pairs)
    if settings.min_score_margin is not None and scores is not None:
        diff = scores[0] - scores[1]  # NaN where a score is missing: unscored, kept
        score_ok = np.isnan(diff) | (diff >= settings.min_score_margin)
    confidence_ok = np.ones(n, dtype=bool)
    confidence = confidence_array(pairs)
    if settings.min_translation_confidence > 0 and confidence is not None:
        confidence_ok = np.isnan(confidence) | (confidence >= settings.min_translation_confidence)
    keep = score_ok & confidence_ok
    report = _report(n, int((~score_ok).sum()), int((score_ok & ~confidence_ok).sum()))
    return pairs.loc[keep].reset_index(drop=True), report


def keep_all(pairs: pd.DataFrame, settings: LossSettings) -> tuple[pd.DataFrame, dict]:
    """No selection (every loss but "filtered"): ``pairs`` as they are and a report with
    kept == pairs, in select_pairs' form; ``settings`` is not read."""
    return pairs, _report(len(pairs), 0, 0)
