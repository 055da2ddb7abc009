"""Identical inputs, identical bytes: trainer logs without their wall-clock fields.

DVC records an md5 for every output; a field that changes from run to run (a runtime, a
throughput) gives a model directory a new md5 although nothing in it changed, and every
stage downstream of it reruns. Timings stay in the stage logs and in dvclive's metrics.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

__all__ = ["scrub_trainer_state", "without_timings"]

_TIMING = re.compile(r"(^|_)(runtime|samples_per_second|steps_per_second)$")


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
