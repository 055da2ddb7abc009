"""Identical inputs, identical bytes: trainer logs without their wall-clock fields, tokenizers
without their load-time flags.

DVC records an md5 for every output; a field that changes from run to run (a runtime, a
throughput) gives a model directory a new md5 although nothing in it changed, and every
stage downstream of it reruns. Timings stay in the stage logs and in dvclive's metrics.
A tokenizer loaded with ``from_pretrained`` writes how it was loaded into its
tokenizer_config.json (transformers 5: ``local_files_only``, true under HF_HUB_OFFLINE=1, and
``is_local``), so ``save_tokenizer`` drops those: the saved bytes then depend on the tokenizer,
not on the environment that loaded it. ``forget_load_flags`` drops them from a tokenizer as
it is loaded (load.py load_pretrained), for saves that do not go through save_tokenizer.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

__all__ = [
    "LOAD_TIME_KEYS",
    "forget_load_flags",
    "save_tokenizer",
    "scrub_trainer_state",
    "without_timings",
]

_TIMING = re.compile(r"(^|_)(runtime|samples_per_second|steps_per_second)$")
# from_pretrained's arguments, never tokenizer settings: transformers 5.24 writes the first two
LOAD_TIME_KEYS = (
    "local_files_only",
    "is_local",
    "_commit_hash",
    "cache_dir",
    "force_download",
    "revision",
    "token",
    "trust_remote_code",
)


def without_timings(log: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """A transformers ``log_history`` without runtime and throughput fields."""
    return [{k: v for k, v in entry.items() if not _TIMING.search(k)} for entry in log]


def scrub_trainer_state(checkpoint_dir: Path) -> int:
    """Drop timings from every checkpoint's trainer_state.json under ``checkpoint_dir``."""
    states = sorted(checkpoint_dir.glob("checkpoint-*/trainer_state.json"))
    for path in states:
        state = json.loads(path.read_text(encoding="utf-8"))
        state["log_history"] = without_timings(state.get("log_history", []))
        path.write_text(json.dumps(state, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    return len(states)


def forget_load_flags(tokenizer: Any) -> Any:
    """Drop LOAD_TIME_KEYS from a loaded tokenizer's ``init_kwargs`` (which save_pretrained
    writes into tokenizer_config.json); returns the tokenizer."""
    for key in LOAD_TIME_KEYS:
        getattr(tokenizer, "init_kwargs", {}).pop(key, None)
    return tokenizer


def save_tokenizer(tokenizer: Any, out_dir: str | Path) -> None:
    """``tokenizer.save_pretrained(out_dir)``, its tokenizer_config.json without LOAD_TIME_KEYS."""
    tokenizer.save_pretrained(out_dir)
    path = Path(out_dir) / "tokenizer_config.json"
    if not path.is_file():
        return
    config = json.loads(path.read_text(encoding="utf-8"))
    if any(key in config for key in LOAD_TIME_KEYS):
        kept = {k: v for k, v in config.items() if k not in LOAD_TIME_KEYS}
        text = json.dumps(kept, indent=2, sort_keys=True, ensure_ascii=False)  # as transformers
        path.write_text(text + "\n", encoding="utf-8")
