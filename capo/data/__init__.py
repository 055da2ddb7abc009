"""capo.data: the pair schema, ingest sources, translation and the built-in benchmark.

    from capo.data import generate_benchmark, run_ingest
    from capo.params import load_params

    params = load_params("params.yaml")
    rows = generate_benchmark(params.ingest.benchmark, seed=params.seed)  # list of pair dicts
    report = run_ingest(params.ingest, seed=params.seed, out_dir="data/pairs")

Language identification for other stages lives in capo.data.langid. Names are imported on
first use, so a stage that needs only capo.data.langid does not load (and does not depend
on) the ingest modules.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from capo.data.benchmark import generate_benchmark
    from capo.data.ingest import run_ingest
    from capo.data.langid import (
        detect_language,
        detect_languages,
        matches_language,
        normalize_language,
    )
    from capo.data.schema import PAIR_COLUMNS, PAIR_SCHEMA, QUARANTINE_SCHEMA, pair_id
    from capo.data.sink import OUTPUTS
    from capo.data.split import split_of

_MODULES = {
    "OUTPUTS": "sink",
    "PAIR_COLUMNS": "schema",
    "PAIR_SCHEMA": "schema",
    "QUARANTINE_SCHEMA": "schema",
    "detect_language": "langid",
    "detect_languages": "langid",
    "generate_benchmark": "benchmark",
    "matches_language": "langid",
    "normalize_language": "langid",
    "pair_id": "schema",
    "run_ingest": "ingest",
    "split_of": "split",
}
__all__ = [
    "OUTPUTS",
    "PAIR_COLUMNS",
    "PAIR_SCHEMA",
    "QUARANTINE_SCHEMA",
    "detect_language",
    "detect_languages",
    "generate_benchmark",
    "matches_language",
    "normalize_language",
    "pair_id",
    "run_ingest",
    "split_of",
]


def __getattr__(name: str) -> Any:
    if name in _MODULES:
        return getattr(import_module(f"capo.data.{_MODULES[name]}"), name)
    raise AttributeError(f"module 'capo.data' has no attribute {name!r}")
