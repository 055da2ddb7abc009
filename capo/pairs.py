"""The pair table between stages: its columns, split files and the reference join.

    pairs = read_split("data/validated", "train", TEXT_COLUMNS)
    ref_path = split_path("data/reference", "train")
    joined = join_reference(pairs, read_table(ref_path, REFERENCE_KEY), where=str(ref_path))

Rows are preference pairs (docs/design.md §2; ingest writes them in capo/data/schema.py's
PAIR_SCHEMA). The reference stage adds, per pair ``id``, the summed completion log-probs
of the policy it starts from; the implicit reward r = beta * (log pi - log pi_ref) is
capo/core/loss.py's ``implicit_rewards``. Imports only pandas, numpy and the column names
(capo/core/columns.py): stages that only read tables (compare) do not load torch.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import numpy as np
import pandas as pd

from capo.core.columns import CONFIDENCE_COLUMN, REF_COLUMNS, SCORE_COLUMNS
from capo.errors import CapoError

__all__ = [
    "COLUMNS",
    "CONFIDENCE_COLUMN",
    "PAIR_COLUMNS",
    "REFERENCE_COLUMNS",
    "REFERENCE_KEY",
    "REF_COLUMNS",
    "SCORE_COLUMNS",
    "TEXT_COLUMNS",
    "confidence_array",
    "join_reference",
    "read_split",
    "read_table",
    "reference_arrays",
    "score_arrays",
    "split_path",
    "write_split",
]

# name -> (type, meaning) of every column a stage after validation reads or writes.
COLUMNS: dict[str, tuple[str, str]] = {
    "id": ("str", "stable hash of language, prompt, chosen and rejected (capo/data/schema.py)"),
    "language": ("str", "BCP-47 primary subtag of the pair"),
    "prompt": ("str", "the prompt x, rendered text (a conversation's messages: `messages`)"),
    "chosen": ("str", "the preferred completion y_w"),
    "rejected": ("str", "the dispreferred completion y_l"),
    "score_chosen": ("float | null", "annotation score s_w; both scores or neither"),
    "score_rejected": ("float | null", "annotation score s_l; both scores or neither"),
    "translation_confidence": ("float | null", "confidence in [0, 1] of a translated pair"),
    "ref_chosen_logps": ("float", "log pi_ref(y_w|x), summed over completion tokens"),
    "ref_rejected_logps": ("float", "log pi_ref(y_l|x), summed over completion tokens"),
    "prompt_tokens": ("int", "prompt tokens kept under policy.max_length"),
    "chosen_tokens": ("int", "chosen completion tokens kept under policy.max_length"),
    "rejected_tokens": ("int", "rejected completion tokens kept under policy.max_length"),
}
TEXT_COLUMNS = ("id", "prompt", "chosen", "rejected")  # what a model needs of a pair
PAIR_COLUMNS = ("id", "language", "prompt", "chosen", "rejected")  # plus the language
REFERENCE_KEY = ("id", *REF_COLUMNS)  # what a reader of the reference table needs
REFERENCE_COLUMNS = (*REFERENCE_KEY, "prompt_tokens", "chosen_tokens", "rejected_tokens")


def read_table(path: str | Path, columns: Iterable[str] = ()) -> pd.DataFrame:
    """Read a Parquet table, failing with a CapoError that names the file and missing columns."""
    path = Path(path)
    if not path.is_file():
        raise CapoError(f"{path}: no such file")
    try:
        table = pd.read_parquet(path)
    except (OSError, ValueError) as err:
        raise CapoError(f"{path}: cannot read Parquet: {err}") from err
    missing = sorted(set(columns) - set(table.columns))
    if missing:
        raise CapoError(f"{path}: missing columns {missing}")
    return table


def split_path(folder: str | Path, split: str) -> Path:
    """Where a stage's folder keeps one split: <folder>/<split>.parquet."""
    return Path(folder) / f"{split}.parquet"


def read_split(folder: str | Path, split: str, columns: Iterable[str] = ()) -> pd.DataFrame:
    """One split of a stage's output folder (read_table of split_path)."""
    return read_table(split_path(folder, split), columns)


def write_split(frame: pd.DataFrame, folder: str | Path, split: str) -> Path:
    """Write one split into ``folder`` (created if needed); returns the file."""
    path = split_path(folder, split)
    path.parent.mkdir(parents=True, exist_ok=True)
    frame.to_parquet(path, index=False)
    return path


def _examples(ids: pd.Series) -> list[str]:
    return ids.head(3).astype(str).tolist()


def join_reference(
    pairs: pd.DataFrame, reference: pd.DataFrame, where: str = "reference"
) -> pd.DataFrame:
    """``pairs`` (index reset) with REF_COLUMNS from ``reference``, joined on ``id``.

    The reference must hold exactly one row per pair: a pair without one, a reference row
    without a pair, a repeated id or a null log-prob is a CapoError that starts with ``where``.
    """
    missing_cols = sorted(set(REFERENCE_KEY) - set(reference.columns))
    if missing_cols:
        raise CapoError(f"{where}: missing columns {missing_cols}")
    ids = reference["id"]
    if ids.duplicated().any():
        raise CapoError(f"{where}: pair id {ids[ids.duplicated()].iloc[0]!r} has several rows")
    missing = ~pairs["id"].isin(ids)
    if missing.any():
        n, some = int(missing.sum()), _examples(pairs["id"][missing])
        raise CapoError(f"{where}: no reference log-probs for {n} pair ids, e.g. {some}")
    extra = ~ids.isin(pairs["id"])
    if extra.any():
        n, some = int(extra.sum()), _examples(ids[extra])
        raise CapoError(f"{where}: {n} reference rows match no pair (another split?), e.g. {some}")
    ref = reference.set_index("id")
    joined = pairs.reset_index(drop=True).copy()
    for col in REF_COLUMNS:
        joined[col] = ref.loc[joined["id"], col].to_numpy(dtype=float)
        if joined[col].isna().any():
            bad = joined["id"][joined[col].isna()].iloc[0]
            raise CapoError(f"{where}: {col} is missing for pair id {bad!r}")
    return joined


def reference_arrays(pairs: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """log pi_ref of chosen and of rejected per pair, float64, shape (N,) each."""
    chosen, rejected = REF_COLUMNS
    return pairs[chosen].to_numpy(dtype=float), pairs[rejected].to_numpy(dtype=float)


def confidence_array(pairs: pd.DataFrame) -> np.ndarray | None:
    """translation_confidence per pair (NaN where not translated), or None without it."""
    if CONFIDENCE_COLUMN not in pairs.columns:
        return None
    return pairs[CONFIDENCE_COLUMN].to_numpy(dtype=float)


def score_arrays(pairs: pd.DataFrame) -> tuple[np.ndarray, np.ndarray] | None:
    """Annotation scores of chosen and rejected (NaN where unscored), or None without them."""
    if not all(c in pairs.columns for c in SCORE_COLUMNS):
        return None
    chosen, rejected = SCORE_COLUMNS
    return pairs[chosen].to_numpy(dtype=float), pairs[rejected].to_numpy(dtype=float)
