"""The study's trial store: one JSON record per finished (or failed) trial, by fingerprint.

    store = TrialStore(work / "store")
    store.done(fp)            # the record of a finished trial, or None
    store.put(fp, {...})      # written by the trial itself, on the worker, when it finishes
    store.attempts()          # one line per attempt (fingerprint, name, run, host, time)

A trial's fingerprint is a hash of its inputs (kind, arguments, the params it reads) and of
the code version: a hash of the capo source files a trial runs (``TRIAL_CODE``). A rerun of
the study skips every trial whose fingerprint has an "ok" record and runs the rest: new
trials, changed ones and failed ones. Records are written atomically (a temporary file, then
a rename), so a driver or worker killed mid-write leaves no half record. The store lives in
the study's work directory; on a cluster that directory must be on a filesystem every worker
shares.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import os
import socket
import time
from functools import lru_cache
from pathlib import Path
from typing import Any

__all__ = ["TRIAL_CODE", "TrialStore", "code_version", "fingerprint", "trial_files"]

# What a trial runs: folders (every .py below) and files, each under its package's import
# name (the core ``capo``, the workflow ``capo_pipelines``). Report and statistics code is
# left out: it reads trial records, it never makes them. tests/test_dvc_deps.py checks that
# this covers every module trials.py imports.
TRIAL_CODE = (
    "capo",
    "capo_pipelines/__init__.py",
    "capo_pipelines/cpu_pins.py",
    "capo_pipelines/data",
    "capo_pipelines/evaluation",
    "capo_pipelines/models",
    "capo_pipelines/params",
    "capo_pipelines/noise_study/trials.py",
)


def _package_dir(name: str) -> Path:
    spec = importlib.util.find_spec(name)
    assert spec is not None and spec.submodule_search_locations, name
    return Path(next(iter(spec.submodule_search_locations))).resolve()


def trial_files() -> list[tuple[str, Path]]:
    """(name under its package, file) of every TRIAL_CODE source file, in hashing order."""
    out = []
    for entry in TRIAL_CODE:
        top, _, rest = entry.partition("/")
        root = _package_dir(top)
        path = root / rest if rest else root
        files = sorted(path.rglob("*.py")) if path.is_dir() else [path]
        out += [(f"{top}/{f.relative_to(root).as_posix()}", f) for f in files]
    return out


@lru_cache(maxsize=1)
def code_version() -> str:
    """SHA-256 (16 hex digits) of the TRIAL_CODE source files, their names and bytes."""
    digest = hashlib.sha256()
    for name, file in trial_files():
        digest.update(name.encode())
        digest.update(file.read_bytes())
    return digest.hexdigest()[:16]


def fingerprint(*parts: Any) -> str:
    """SHA-256 (20 hex digits) of ``parts`` as sorted JSON, with the code version."""
    text = json.dumps([code_version(), *parts], sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:20]


class TrialStore:
    """A folder of ``<fingerprint>.json`` records and an ``attempts.jsonl`` log."""

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)

    def _path(self, fp: str) -> Path:
        return self.root / f"{fp}.json"

    def get(self, fp: str) -> dict[str, Any] | None:
        """The stored record of ``fp`` (ok or failed), or None."""
        try:
            return json.loads(self._path(fp).read_text(encoding="utf-8"))
        except (FileNotFoundError, json.JSONDecodeError):
            return None

    def done(self, fp: str) -> dict[str, Any] | None:
        """The record of ``fp`` if it finished ("ok"), else None."""
        rec = self.get(fp)
        return rec if rec and rec.get("status") == "ok" else None

    def put(self, fp: str, record: dict[str, Any]) -> None:
        """Write ``record`` for ``fp`` atomically."""
        self.root.mkdir(parents=True, exist_ok=True)
        tmp = self.root / f".{fp}.{os.getpid()}.tmp"
        tmp.write_text(json.dumps(record, default=float, allow_nan=True), encoding="utf-8")
        os.replace(tmp, self._path(fp))

    def attempt(self, fp: str, name: str, run: str) -> None:
        """Log one attempt at trial ``fp`` (one short line, appended)."""
        self.root.mkdir(parents=True, exist_ok=True)
        line = {"fingerprint": fp, "name": name, "run": run, "host": socket.gethostname()}
        line["time"] = time.time()
        with open(self.root / "attempts.jsonl", "a", encoding="utf-8") as log:
            log.write(json.dumps(line) + "\n")

    def attempts(self) -> list[dict[str, Any]]:
        """Every logged attempt, oldest first."""
        path = self.root / "attempts.jsonl"
        if not path.is_file():
            return []
        return [json.loads(x) for x in path.read_text(encoding="utf-8").splitlines() if x]
