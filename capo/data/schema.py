"""The preference-pair schema of docs/design.md §2 and the quarantine schema, as Arrow schemas."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from typing import Any

import pyarrow as pa

__all__ = [
    "PAIR_COLUMNS",
    "PAIR_SCHEMA",
    "QUARANTINE_SCHEMA",
    "SPLITS",
    "pair_id",
    "pairs_table",
    "quarantine_table",
]

SPLITS = ("train", "test")

PAIR_SCHEMA = pa.schema(
    [
        # id: sha1 over language, prompt, chosen, rejected; first 16 hex digits
        pa.field("id", pa.string(), nullable=False),
        pa.field("language", pa.string(), nullable=False),  # BCP-47 primary subtag
        pa.field("prompt", pa.string(), nullable=False),
        pa.field("chosen", pa.string(), nullable=False),
        pa.field("rejected", pa.string(), nullable=False),
        # conversational pairs: JSON of the prompt/chosen/rejected message lists
        # (capo/models/chat.py), rendered by the model's chat template; null for plain text
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
PAIR_COLUMNS: tuple[str, ...] = tuple(PAIR_SCHEMA.names)

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
