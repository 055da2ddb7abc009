"""The pair contract: the one definition of a preference pair between stages.

    pairs = read_split("data/validated", "train", MODEL_COLUMNS)
    ref_path = split_path("data/reference", "train")
    joined = join_reference(pairs, read_table(ref_path, REFERENCE_KEY), where=str(ref_path))

It owns, with distinct names:
- the stored table: PAIR_SCHEMA (Arrow; every column ingest writes, STORED_COLUMNS), the
  quarantine table (QUARANTINE_SCHEMA) and the stable ``pair_id``;
- the column groups a stage reads: MODEL_COLUMNS (what a model needs), LANGUAGE_COLUMNS (plus
  the language), SCORE_COLUMNS, CONFIDENCE_COLUMN and REF_COLUMNS (what CAPOTrainer reads
  beside TRL's own; defined in the core, capo/columns.py, and re-exported here),
  REFERENCE_KEY and REFERENCE_COLUMNS (the reference stage's table), and COLUMNS (name ->
  type and meaning);
- the split files (SPLITS, split_path, read_split, write_split) and the reference join;
- what a pair's text may hold (is_visible, control_characters): ingest quarantines a text
  with no visible character as ``empty_text`` and one with a control character (C0 but tab,
  LF and CR; DEL; C1) as ``control_character``, and validation checks both again.

Ingest, validation, the dataset export, reference, training and evaluation use it
(docs/design.md §2). The reference stage adds, per pair ``id``, the summed completion
log-probs of the policy it starts from; the implicit reward r = beta * (log pi - log pi_ref)
is capo/loss.py's ``implicit_rewards``. Imports pandas, numpy and pyarrow, never torch, so
stages that only read tables (ingest, validate, compare) do not load it.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa

from capo.columns import CONFIDENCE_COLUMN, REF_COLUMNS, SCORE_COLUMNS
from capo.errors import CapoError

__all__ = [
    "COLUMNS",
    "CONFIDENCE_COLUMN",
    "LANGUAGE_COLUMNS",
    "MODEL_COLUMNS",
    "PAIR_SCHEMA",
    "QUARANTINE_SCHEMA",
    "REFERENCE_COLUMNS",
    "REFERENCE_KEY",
    "REF_COLUMNS",
    "SCORE_COLUMNS",
    "SPLITS",
    "STORED_COLUMNS",
    "confidence_array",
    "control_characters",
    "is_visible",
    "join_reference",
    "pair_id",
    "pairs_table",
    "quarantine_table",
    "read_split",
    "read_table",
    "reference_arrays",
    "score_arrays",
    "split_path",
    "write_split",
]

SPLITS = ("train", "test")  # the split files of data/pairs, data/validated and data/reference

PAIR_SCHEMA = pa.schema(
    [
        # id: sha1 over language, prompt, chosen, rejected; first 16 hex digits
        pa.field("id", pa.string(), nullable=False),
        pa.field("language", pa.string(), nullable=False),  # BCP-47 primary subtag
        pa.field("prompt", pa.string(), nullable=False),
        pa.field("chosen", pa.string(), nullable=False),
        pa.field("rejected", pa.string(), nullable=False),
        # conversational pairs: JSON of the prompt/chosen/rejected message lists
        # (pipelines/models/chat.py), rendered by the model's chat template; null for plain text
        pa.field("messages", pa.string()),
        pa.field("score_chosen", pa.float64()),  # annotation scores, both or neither
        pa.field("score_rejected", pa.float64()),
        pa.field("source", pa.string(), nullable=False),  # source name ("a->de" if translated)
        pa.field("source_row", pa.int64(), nullable=False),  # 1-based record number in the source
        pa.field("split", pa.string(), nullable=False),  # "train" | "test"
        pa.field("translated_from", pa.string()),  # id of the English pair it was translated from
        # [0, 1]: confidence that a translated pair kept its meaning (q_t); null: not translated
        pa.field("translation_confidence", pa.float64()),
        pa.field("label_flipped", pa.bool_(), nullable=False),  # benchmark noise; never trained on
        pa.field("noise_kind", pa.string()),  # benchmark: flip | corrupted_chosen (label_flipped)
        pa.field("gold", pa.string()),  # benchmark: the verifiable answer
        pa.field("task", pa.string()),  # benchmark: task family
        pa.field("rejected_kind", pa.string()),  # benchmark: wrong | wrong_language | near_miss
    ]
)
STORED_COLUMNS: tuple[str, ...] = tuple(PAIR_SCHEMA.names)  # every column ingest writes

QUARANTINE_SCHEMA = pa.schema(
    [
        pa.field("source", pa.string(), nullable=False),
        pa.field("row", pa.int64(), nullable=False),  # 1-based record number in the source
        pa.field("code", pa.string(), nullable=False),  # short reason code, e.g. empty_text
        pa.field("field", pa.string()),  # the offending column, when there is one
        pa.field("reason", pa.string(), nullable=False),  # one readable sentence
        pa.field("raw", pa.string(), nullable=False),  # the record, truncated, escaped
        pa.field("language", pa.string()),  # given by the source, else identified, else null
    ]
)


# Code points that render as nothing besides whitespace and format characters (category Cf,
# e.g. U+200B-U+200D, U+2060, U+FEFF, U+00AD): Unicode's other default-ignorable code points
# (combining grapheme joiner, Hangul fillers, Khmer inherent vowels, Mongolian free variation
# selectors, variation selectors) and the blank Braille pattern.
_BLANK = re.compile(
    "[\u034f\u115f\u1160\u17b4\u17b5\u180b-\u180f\u2800\u3164\ufe00-\ufe0f\uffa0"
    "\U000e0100-\U000e01ef]"
)
# C0 controls but tab, LF and CR; DEL; C1 controls (in text, mostly cp1252 read as latin-1).
_CONTROL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")


def _visible_char(char: str) -> bool:
    return not (char.isspace() or unicodedata.category(char) == "Cf" or _BLANK.match(char))


def is_visible(text: str) -> bool:
    """Whether ``text`` has a character that renders: not only whitespace, format
    characters (Cf: zero-width space and joiners, word joiner, BOM, soft hyphen, ...) and
    other default-ignorable code points. A joiner inside visible text is fine."""
    return any(_visible_char(c) for c in text)


def control_characters(text: str) -> list[str]:
    """The distinct control characters in ``text``, in order of appearance, as "U+XXXX": C0
    controls other than tab, LF and CR, DEL (U+007F) and C1 controls (U+0080-U+009F)."""
    return list(dict.fromkeys(f"U+{ord(c):04X}" for c in _CONTROL.findall(text)))


def pair_id(language: str, prompt: str, chosen: str, rejected: str) -> str:
    """Stable id: first 16 hex digits of sha1 over the four texts, NUL-separated."""
    blob = "\0".join((language, prompt, chosen, rejected)).encode("utf-8")
    return hashlib.sha1(blob).hexdigest()[:16]


def _columns(rows: Sequence[Mapping[str, Any]], schema: pa.Schema) -> dict[str, list[Any]]:
    return {name: [row.get(name) for row in rows] for name in schema.names}


def pairs_table(rows: Sequence[Mapping[str, Any]]) -> pa.Table:
    """An Arrow table in PAIR_SCHEMA from row dicts (missing optional keys become null)."""
    cols = _columns(rows, PAIR_SCHEMA)
    cols["label_flipped"] = [bool(v) for v in cols["label_flipped"]]
    return pa.Table.from_pydict(cols, schema=PAIR_SCHEMA)


def quarantine_table(rows: Sequence[Mapping[str, Any]]) -> pa.Table:
    """An Arrow table in QUARANTINE_SCHEMA from row dicts."""
    return pa.Table.from_pydict(_columns(rows, QUARANTINE_SCHEMA), schema=QUARANTINE_SCHEMA)


# name -> (type, meaning) of every column a stage after validation reads or writes.
COLUMNS: dict[str, tuple[str, str]] = {
    "id": (
        "str",
        "stable hash of language, prompt, chosen and rejected (pipelines/data/contract.py)",
    ),
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
MODEL_COLUMNS = ("id", "prompt", "chosen", "rejected")  # what a model needs of a pair
LANGUAGE_COLUMNS = (*MODEL_COLUMNS[:1], "language", *MODEL_COLUMNS[1:])  # plus the language
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
