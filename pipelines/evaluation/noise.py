"""Noise analysis: the CAPO weight w of flipped against clean training pairs, per language.

    table = noise_weights(train_pairs, pair_weights)   # pair_weights.parquet of models/capo
    table["overall"]["weight_ratio"]                   # mean w(flipped) / mean w(clean)

``label_flipped`` is benchmark bookkeeping that training never sees; a ratio below 1 means
CAPO's confidence weighting pulled less on the pairs whose labels were swapped.
"""

from __future__ import annotations

import logging
import math
from pathlib import Path
from typing import Any

import pandas as pd

from capo.errors import CapoError
from capo_pipelines.data.contract import read_table

__all__ = ["noise_analysis", "noise_weights"]

logger = logging.getLogger(__name__)


def _mean(values: pd.Series) -> float | None:
    return float(values.mean()) if len(values) else None


def _group(frame: pd.DataFrame) -> dict[str, Any]:
    flipped = frame.loc[frame["label_flipped"], "w"]
    clean = frame.loc[~frame["label_flipped"], "w"]
    w_flipped, w_clean = _mean(flipped), _mean(clean)
    ratio = None
    if w_flipped is not None and w_clean:
        ratio = w_flipped / w_clean
    return {
        "flipped_pairs": len(flipped),
        "clean_pairs": len(clean),
        "flipped_mean_w": w_flipped,
        "clean_mean_w": w_clean,
        "weight_ratio": ratio,
    }


def noise_weights(pairs: pd.DataFrame, weights: pd.DataFrame) -> dict[str, Any]:
    """{"overall": {...}, "per_language": {lang: {...}}} of mean w for flipped/clean pairs.

    ``pairs`` needs id, language, label_flipped; ``weights`` id and w. Pairs without a weight
    are an error (the weights must be of the same training split).
    """
    for name, frame, cols in (
        ("pairs", pairs, {"id", "language", "label_flipped"}),
        ("weights", weights, {"id", "w"}),
    ):
        missing = sorted(cols - set(frame.columns))
        if missing:
            raise CapoError(f"noise analysis: {name} lack columns {missing}")
    w = weights.drop_duplicates("id").set_index("id")["w"].astype(float)
    absent = ~pairs["id"].isin(w.index)
    if absent.any():
        raise CapoError(f"noise analysis: {int(absent.sum())} training pairs have no CAPO weight")
    frame = pd.DataFrame(
        {
            "language": pairs["language"].astype(str).to_numpy(),
            "label_flipped": pairs["label_flipped"].fillna(False).astype(bool).to_numpy(),
            "w": w.loc[pairs["id"]].to_numpy(),
        }
    )
    if frame["w"].map(math.isnan).any():
        raise CapoError("noise analysis: CAPO weights contain NaN")
    per_language = {str(k): _group(g) for k, g in frame.groupby("language", sort=True)}
    return {"overall": _group(frame), "per_language": per_language}


def noise_analysis(train_path: Path, weights_path: Path) -> dict[str, Any] | None:
    """noise_weights of the training split; None without a label_flipped column or CAPO weights
    (a candidate trained with a TRL loss writes null w)."""
    train = read_table(train_path, {"id", "language"})
    if "label_flipped" not in train.columns or not train["label_flipped"].notna().any():
        logger.warning("%s has no label_flipped: no noise analysis", train_path)
        return None
    weights = read_table(weights_path, {"id", "w"})
    if weights["w"].isna().all():  # a model trained with a TRL loss has no CAPO weights
        logger.warning("%s has no CAPO weights (not a capo model): no noise analysis", weights_path)
        return None
    return noise_weights(train, weights)
