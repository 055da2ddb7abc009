"""On-disk translation cache keyed by everything that decides a translation (one SQLite file
per model).

A key (``cache_key``) covers the model name, the language pair, the text and the settings that
change what the model outputs: the generation settings (max_new_tokens, num_beams where beam
search is used), the model's revision where it is known (``model_revision``: the commit of a
Hugging Face Hub model; a local folder or file has none, so one replaced in place under the same
path is not noticed) and the device type (CPU and GPU kernels can decode differently). The dtype
is not a setting: a model loads in its checkpoint's dtype (GGUF: float32), which the revision
fixes. The settings that change nothing (batch size, cache folder) stay out, so changing them
keeps the cache.

Each entry holds the output and the translator's mean token log-probability of it (the quality
estimate's expensive part, pipelines/data/translation_quality.py). A cache written before
log-probabilities were stored gains the column; its entries read as having none, and the
translator translates those texts once more to get it. A cache written before the settings were
part of the key (``PRAGMA user_version`` below KEY_VERSION) is invalidated when it is opened: its
entries are deleted (their settings are unknown, so none can be trusted) and the file goes on
as a current one.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import sqlite3
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

__all__ = ["KEY_VERSION", "TranslationCache", "cache_key", "model_revision"]

log = logging.getLogger(__name__)

# The layout of cache_key; a cache file records it (PRAGMA user_version). 1 was
# sha1(model \0 src \0 tgt \0 text), without the generation settings.
KEY_VERSION = 2
_SNAPSHOT = re.compile(r"[/\\]snapshots[/\\]([0-9a-f]{40})(?:[/\\]|$)")


def cache_key(model: str, src: str, tgt: str, text: str, settings: Mapping[str, Any]) -> str:
    """sha1 over model, language pair, text and ``settings`` (every setting that changes the
    output: see the module docstring): a re-run translates only text it has not translated
    the same way before."""
    fields = {"model": model, "src": src, "tgt": tgt, "text": text, "settings": dict(settings)}
    blob = json.dumps(fields, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha1(blob.encode("utf-8")).hexdigest()


def model_revision(name: str, cache_dir: str | Path | None = None) -> str | None:
    """The commit of a Hugging Face Hub model as transformers resolves it (from the local cache
    when offline), else None: a local folder or file (unless it lies in a Hub cache snapshot),
    or a name that does not resolve (the loader reports that)."""
    if os.path.exists(name):
        found = _SNAPSHOT.search(str(Path(name).resolve()))
        return found.group(1) if found else None
    from transformers.utils import cached_file

    try:
        path = cached_file(name, "config.json", cache_dir=cache_dir)
    except (OSError, ValueError):
        return None
    found = _SNAPSHOT.search(str(path)) if path else None
    return found.group(1) if found else None


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
            version = self._db.execute("PRAGMA user_version").fetchone()[0]
            if version < KEY_VERSION:  # keys without the settings: none can be trusted
                dropped = self._db.execute("DELETE FROM t").rowcount
                if dropped:
                    log.info(
                        "%s: %d translations from before the generation settings were part of "
                        "the key dropped; they are translated again",
                        self.path,
                        dropped,
                    )
            if version != KEY_VERSION:
                self._db.execute(f"PRAGMA user_version = {KEY_VERSION:d}")

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
