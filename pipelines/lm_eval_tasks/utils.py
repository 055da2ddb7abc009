"""Helpers of the capo_benchmark lm-eval tasks (loaded by lm-eval from this folder).

The test questions come from an exported benchmark (`capo benchmark export DIR`): lm-eval
passes its ``--metadata`` JSON (and the task's own ``metadata:``) to ``load_test``, so
``{"data_dir": DIR}`` names the folder; the environment variable CAPO_BENCHMARK_DIR does too.
A generation is scored exactly as capo's evaluate stage scores it
(capo_pipelines.evaluation.generation.score_answers): its first non-empty line, matched against the
gold answer after normalisation (capo_pipelines.evaluation.metrics.answer_matches).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from capo_pipelines.evaluation.metrics import answer_matches, first_line

ENV = "CAPO_BENCHMARK_DIR"


def test_files(data_dir: str | os.PathLike[str]) -> list[str]:
    """The test split's Parquet files of an exported benchmark folder."""
    files = sorted(str(p) for p in Path(data_dir).glob("data/test-*.parquet"))
    if not files:
        raise FileNotFoundError(
            f"{data_dir}: no data/test-*.parquet; write it with `capo benchmark export DIR`"
        )
    return files


def load_test(data_dir: str | None = None, language: str | None = None, **_: Any) -> Any:
    """{"test": the test questions of ``language``} as a datasets.DatasetDict.

    ``data_dir`` is the exported folder (default: $CAPO_BENCHMARK_DIR). Other keyword
    arguments (lm-eval passes the model arguments and the task version along) are ignored.
    """
    import datasets
    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    data_dir = data_dir or os.environ.get(ENV)
    if not data_dir:
        raise ValueError(
            "capo_benchmark: name the exported benchmark with --metadata "
            f'\'{{"data_dir": "DIR"}}\' or the environment variable {ENV}'
        )
    table = pa.concat_tables(pq.read_table(f) for f in test_files(data_dir))
    if language is not None:
        table = table.filter(pc.equal(table["language"], language))
    table = table.select(["id", "language", "task", "prompt", "gold"])
    return datasets.DatasetDict({"test": datasets.Dataset.from_dict(table.to_pydict())})


def doc_to_text(doc: dict[str, Any]) -> str:
    """The prompt exactly as exported: capo encodes it with ``tokenizer(prompt)``."""
    return doc["prompt"]


def process_results(doc: dict[str, Any], results: list[str]) -> dict[str, float]:
    """generation_accuracy: 1.0 when the answer's first line matches the gold answer."""
    return {"generation_accuracy": float(answer_matches(first_line(results[0]), doc["gold"]))}
