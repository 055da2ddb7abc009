"""One source row as every ingest reader yields it, and its quarantine rendering."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

__all__ = ["Record", "raw_text"]

_RAW_CHARS = 500


@dataclass(frozen=True)
class Record:
    """One source row: its 1-based number, the parsed mapping, or why it could not be parsed."""

    row: int
    data: dict[str, Any] | None
    raw: str = ""
    code: str | None = None
    reason: str | None = None


def raw_text(value: Any) -> str:
    """A short, valid-UTF-8 rendering of a row for the quarantine file."""
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False, default=str)
    return text[:_RAW_CHARS].encode("utf-8", "backslashreplace").decode("utf-8")
