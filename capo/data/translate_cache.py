"""On-disk translation cache keyed by model and text hash (one SQLite file per model)."""

from __future__ import annotations

import hashlib
import re
import sqlite3
from collections.abc import Iterable, Mapping
from pathlib import Path

__all__ = ["TranslationCache", "cache_key"]


def cache_key(model: str, src: str, tgt: str, text: str) -> str:
    """sha1 over model, language pair and text: a re-run translates only new text."""
    return hashlib.sha1("\0".join((model, src, tgt, text)).encode("utf-8")).hexdigest()


class TranslationCache:
    """Translations of one model, stored in ``cache_dir``/<model slug>-<hash>.sqlite."""

    def __init__(self, cache_dir: str | Path, model: str) -> None:
        slug = re.sub(r"[^A-Za-z0-9._-]+", "_", model)[-60:]
        digest = hashlib.sha1(model.encode()).hexdigest()[:8]
        self.model = model
        self.path = Path(cache_dir) / f"{slug}-{digest}.sqlite"
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(self.path)
        self._db.execute("CREATE TABLE IF NOT EXISTS t (key TEXT PRIMARY KEY, output TEXT)")

    def get_many(self, keys: Iterable[str]) -> dict[str, str]:
        """The cached outputs of those ``keys`` that are present."""
        keys = list(keys)
        found: dict[str, str] = {}
        for start in range(0, len(keys), 500):  # SQLite caps bound parameters
            part = keys[start : start + 500]
            marks = ",".join("?" * len(part))
            rows = self._db.execute(f"SELECT key, output FROM t WHERE key IN ({marks})", part)
            found.update(rows.fetchall())
        return found

    def put_many(self, outputs: Mapping[str, str]) -> None:
        """Store outputs by key (committed at once)."""
        with self._db:
            self._db.executemany("INSERT OR REPLACE INTO t VALUES (?, ?)", outputs.items())

    def __len__(self) -> int:
        return self._db.execute("SELECT COUNT(*) FROM t").fetchone()[0]

    def close(self) -> None:
        """Close the database."""
        self._db.close()
