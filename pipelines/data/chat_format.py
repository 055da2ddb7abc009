"""``ingest.chat_format``: one format for all pairs of a run, plain text or conversations.

TRL trains on one format, so ingest makes the pairs of a run uniform: ``text`` drops the
messages (the rendered texts stay), ``messages`` gives each plain-text pair one user and one
assistant turn, and ``auto`` does that only when the run accepted some conversations
(``make_conversational`` rewrites the pair files once, a row group at a time).
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from capo_pipelines.models.chat import MESSAGES, single_turn

__all__ = ["CHAT_FORMATS", "apply_chat_format", "make_conversational"]

CHAT_FORMATS = ("auto", "messages", "text")


def apply_chat_format(pair: dict[str, Any], chat_format: str) -> None:
    """Set a checked pair's ``messages`` as ``chat_format`` says (``auto``: leave it)."""
    if chat_format == "text":
        pair[MESSAGES] = None
    elif chat_format == "messages" and not pair.get(MESSAGES):
        pair[MESSAGES] = single_turn(
            pair["prompt"], chosen=pair["chosen"], rejected=pair["rejected"]
        )


def make_conversational(paths: Iterable[str | Path]) -> int:
    """Give every plain-text pair in these pair files its single-turn messages, in place;
    returns how many pairs changed."""
    changed = 0
    for path in map(Path, paths):
        source = pq.ParquetFile(path)
        tmp = path.with_name(f".{path.name}.chat.tmp")
        with pq.ParquetWriter(tmp, source.schema_arrow) as writer:
            for i in range(source.num_row_groups):
                table = source.read_row_group(i)
                cols = {c: table.column(c).to_pylist() for c in ("prompt", "chosen", "rejected")}
                old = table.column(MESSAGES).to_pylist()
                new = [
                    m or single_turn(p, chosen=c, rejected=r)
                    for m, p, c, r in zip(old, *cols.values(), strict=True)
                ]
                changed += sum(m is None for m in old)
                index = table.schema.get_field_index(MESSAGES)
                field = table.schema.field(index)
                table = table.set_column(index, field, pa.array(new, field.type))
                writer.write_table(table)
        tmp.replace(path)
    return changed
