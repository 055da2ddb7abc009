"""capo.data: the pair schema, ingest sources, translation and the built-in benchmark.

    from capo.data import generate_benchmark, run_ingest
    from capo.params import load_params

    params = load_params("params.yaml")
    rows = generate_benchmark(params.ingest.benchmark, seed=params.seed)  # list of pair dicts
    report = run_ingest(params.ingest, seed=params.seed, out_dir="data/pairs")

Language identification for other stages lives in capo.data.langid.
"""

from __future__ import annotations

from capo.data.benchmark import generate_benchmark
from capo.data.ingest import run_ingest
from capo.data.langid import detect_language, detect_languages, matches_language, normalize_language
from capo.data.schema import PAIR_COLUMNS, PAIR_SCHEMA, QUARANTINE_SCHEMA, pair_id
from capo.data.sink import OUTPUTS
from capo.data.split import split_of

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
