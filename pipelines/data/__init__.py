"""capo_pipelines.data: the pair schema, ingest sources, translation and the built-in benchmark.

    from capo_pipelines.data import generate_benchmark, run_ingest
    from capo_pipelines.params import load_params

    params = load_params("params.yaml")
    rows = generate_benchmark(params.ingest.benchmark, seed=params.seed)  # list of pair dicts
    report = run_ingest(params.ingest, seed=params.seed, out_dir="data/pairs")

Language identification for other stages lives in capo_pipelines.data.langid. Names are imported on
first use, so a stage that needs only capo_pipelines.data.langid does not load (and does not depend
on) the ingest modules.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from capo_pipelines.data.benchmark import generate_benchmark
    from capo_pipelines.data.contract import PAIR_SCHEMA, QUARANTINE_SCHEMA, STORED_COLUMNS, pair_id
    from capo_pipelines.data.ingestion import run_ingest
    from capo_pipelines.data.langid import (
        detect_language,
        detect_languages,
        matches_language,
        normalize_language,
    )
    from capo_pipelines.data.sink import OUTPUTS
    from capo_pipelines.data.split import split_of

_MODULES = {
    "OUTPUTS": "sink",
    "STORED_COLUMNS": "contract",
    "PAIR_SCHEMA": "contract",
    "QUARANTINE_SCHEMA": "contract",
    "detect_language": "langid",
    "detect_languages": "langid",
    "generate_benchmark": "benchmark",
    "matches_language": "langid",
    "normalize_language": "langid",
    "pair_id": "contract",
    "run_ingest": "ingestion",
    "split_of": "split",
}
__all__ = [
    "OUTPUTS",
    "PAIR_SCHEMA",
    "QUARANTINE_SCHEMA",
    "STORED_COLUMNS",
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
        return getattr(import_module(f"capo_pipelines.data.{_MODULES[name]}"), name)
    raise AttributeError(f"module 'capo_pipelines.data' has no attribute {name!r}")
