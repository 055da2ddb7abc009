"""On-disk translation cache keyed by model and text hash (one SQLite file per model).

Each entry holds the output and the translator's mean token log-probability of it (the
quality estimate's expensive part, pipelines/data/translation_quality.py). A cache written
before log-probabilities were stored gains the column; its entries read as having none, and
the translator translates those texts once more to get it.
"""

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
        with self._db:
            self._db.execute(
                "CREATE TABLE IF NOT EXISTS t (key TEXT PRIMARY KEY, output TEXT, logprob REAL)"
            )
            columns = {row[1] for row in self._db.execute("PRAGMA table_info(t)")}
            if "logprob" not in columns:  # a cache from before log-probabilities were kept
                self._db.execute("ALTER TABLE t ADD COLUMN logprob REAL")

    def get_many(self, keys: Iterable[str]) -> dict[str, tuple[str, float | None]]:
        """(output, mean token log-prob or None) of those ``keys`` that are present."""
        keys = list(keys)
        found: dict[str, tuple[str, float | None]] = {}
        for start in range(0, len(keys), 500):  # SQLite caps bound parameters
            part = keys[start : start + 500]
            marks = ",".join("?" * len(part))
            rows = self._db.execute(
                f"SELECT key, output, logprob FROM t WHERE key IN ({marks})", part
            )
            found.update((key, (output, lp)) for key, output, lp in rows.fetchall())
        return found

    def put_many(self, outputs: Mapping[str, tuple[str, float | None]]) -> None:
        """Store (output, mean token log-prob) by key (committed at once)."""
        rows = [(key, out, lp) for key, (out, lp) in outputs.items()]
        with self._db:
            self._db.executemany("INSERT OR REPLACE INTO t VALUES (?, ?, ?)", rows)

    def __len__(self) -> int:
        return self._db.execute("SELECT COUNT(*) FROM t").fetchone()[0]

    def close(self) -> None:
        """Close the database."""
        self._db.close()
