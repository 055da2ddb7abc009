"""Export the built-in benchmark as a Hugging Face dataset with a dataset card.

    from capo_pipelines.export.benchmark_export import export_benchmark
    from capo_pipelines.params import load_params

    summary = export_benchmark(load_params("params.yaml"), "capo-benchmark")

writes, under the folder:

- ``README.md``: the dataset card (YAML metadata, then prose; pipelines/export/dataset_card.py);
- ``LICENSE.md``: the licenses of the sources, which the card's ``license_link`` names;
- ``data/{train,validation,test}-00000-of-00001.parquet``: the preference pairs, the config
  ``pairs`` (the default), which ``datasets.load_dataset(folder)`` reads through the card;
- ``sft/train-00000-of-00001.parquet``: the clean SFT demonstrations, the config ``sft``;
- ``disk/pairs`` and ``disk/sft``: the same as ``datasets.DatasetDict.save_to_disk`` folders,
  for ``datasets.load_from_disk``.

The pairs are ``generate_benchmark(params.ingest.benchmark, params.seed, validation_pairs)``,
the rows the ingest stage (and, with a regime, the noise study) starts from. The Parquet files
and the card are byte-identical for the same settings (fixed schema, no timestamps).
"""

from __future__ import annotations

import dataclasses
import json
import shutil
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from capo.errors import CapoError
from capo_pipelines.data.benchmark import demonstrations, generate_benchmark, realized_noise
from capo_pipelines.data.contract import SPLITS
from capo_pipelines.params import BenchmarkParams, Params

__all__ = [
    "EXPORT_PAIR_COLUMNS",
    "EXPORT_PAIR_SCHEMA",
    "EXPORT_SPLITS",
    "SFT_SCHEMA",
    "benchmark_settings",
    "export_benchmark",
    "pair_table",
    "sft_table",
]

EXPORT_SPLITS = (SPLITS[0], "validation", SPLITS[1])  # the contract's, plus validation
_MESSAGES = pa.list_(pa.struct([("role", pa.string()), ("content", pa.string())]))
EXPORT_PAIR_SCHEMA = pa.schema(
    [
        ("id", pa.string()),
        ("language", pa.string()),
        ("task", pa.string()),
        ("prompt", pa.string()),
        ("chosen", pa.string()),
        ("rejected", pa.string()),
        ("prompt_messages", _MESSAGES),
        ("chosen_messages", _MESSAGES),
        ("rejected_messages", _MESSAGES),
        ("score_chosen", pa.float64()),
        ("score_rejected", pa.float64()),
        ("translation_confidence", pa.float64()),
        ("rejected_kind", pa.string()),
        ("label_flipped", pa.bool_()),
        ("noise_kind", pa.string()),
        ("gold", pa.string()),
    ]
)
EXPORT_PAIR_COLUMNS = tuple(EXPORT_PAIR_SCHEMA.names)
SFT_SCHEMA = pa.schema(
    [
        ("language", pa.string()),
        ("task", pa.string()),
        ("prompt", pa.string()),
        ("completion", pa.string()),
        ("prompt_messages", _MESSAGES),
        ("completion_messages", _MESSAGES),
    ]
)
_SHARD = "-00000-of-00001.parquet"


def _user(text: str) -> list[dict[str, str]]:
    return [{"role": "user", "content": text}]


def _assistant(text: str) -> list[dict[str, str]]:
    return [{"role": "assistant", "content": text}]


def pair_table(rows: list[dict[str, Any]]) -> pa.Table:
    """Benchmark rows (generate_benchmark) as an Arrow table in EXPORT_PAIR_SCHEMA: the texts, TRL's
    conversational columns (one user turn, one assistant turn each) and the ground truth."""
    records = [
        {
            **{name: row.get(name) for name in EXPORT_PAIR_COLUMNS},
            "prompt_messages": _user(row["prompt"]),
            "chosen_messages": _assistant(row["chosen"]),
            "rejected_messages": _assistant(row["rejected"]),
        }
        for row in rows
    ]
    return pa.Table.from_pylist(records, schema=EXPORT_PAIR_SCHEMA)


def sft_table(rows: list[dict[str, Any]]) -> pa.Table:
    """SFT demonstrations (benchmark.demonstrations) as an Arrow table in SFT_SCHEMA,
    in TRL's prompt-completion format, as text and as conversations."""
    records = [
        {
            **{name: row[name] for name in ("language", "task", "prompt", "completion")},
            "prompt_messages": _user(row["prompt"]),
            "completion_messages": _assistant(row["completion"]),
        }
        for row in rows
    ]
    return pa.Table.from_pylist(records, schema=SFT_SCHEMA)


def benchmark_settings(params: Params, regime: str | None = None) -> BenchmarkParams:
    """``ingest.benchmark``, or with ``regime`` the noise study's settings for that regime
    (study/trials.py regime_benchmark: its noise in every language, its SFT questions)."""
    bench = params.ingest.benchmark
    if regime is None:
        return bench
    from capo_pipelines.noise_study.trials import regime_benchmark

    names = [r.name for r in params.study.regimes]
    if regime not in names:
        raise CapoError(f"--regime: no study regime {regime!r} (study.regimes: {names})")
    return regime_benchmark(params, params.study.regimes[names.index(regime)])


def _write(table: pa.Table, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(table, path, compression="zstd")


def _save_to_disk(tables: dict[str, pa.Table], path: Path) -> None:
    import datasets

    features = datasets.Features.from_arrow_schema(next(iter(tables.values())).schema)
    dd = datasets.DatasetDict(
        {
            split: datasets.Dataset.from_dict(table.to_pydict(), features=features)
            for split, table in tables.items()
        }
    )
    shown = datasets.is_progress_bar_enabled()
    datasets.disable_progress_bars()
    try:
        dd.save_to_disk(str(path))
    finally:
        if shown:
            datasets.enable_progress_bars()


def export_benchmark(
    params: Params,
    out: str | Path,
    *,
    regime: str | None = None,
    seed: int | None = None,
    validation_pairs: int | None = None,
    study: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Write the benchmark as a dataset folder with its card (see the module docstring).

    ``seed`` defaults to params.yaml's ``seed``, ``validation_pairs`` to
    ``study.validation_pairs`` (the noise study's validation split); ``regime`` takes a noise
    study regime's settings instead of ``ingest.benchmark``'s. ``study`` is the noise study's
    JSON (reports/noise_study.json) for the card's reference scores; None leaves them out.
    Returns the export's summary (settings, split sizes), which the card is written from.
    """
    from capo_pipelines.export.dataset_card import LICENSE_FILE, dataset_card, license_document

    bench = benchmark_settings(params, regime)
    seed = params.seed if seed is None else seed
    validation_pairs = (
        params.study.validation_pairs if validation_pairs is None else validation_pairs
    )
    rows = generate_benchmark(bench, seed, validation_pairs)
    pairs = {split: pair_table([r for r in rows if r["split"] == split]) for split in EXPORT_SPLITS}
    sft = {"train": sft_table(demonstrations(bench, seed))}
    out = Path(out)
    for part in ("data", "sft", "disk"):
        shutil.rmtree(out / part, ignore_errors=True)
    for split, table in pairs.items():
        _write(table, out / "data" / f"{split}{_SHARD}")
    _write(sft["train"], out / "sft" / f"train{_SHARD}")
    _save_to_disk(pairs, out / "disk" / "pairs")
    _save_to_disk(sft, out / "disk" / "sft")
    sft_rows = sft["train"].column("language").to_pylist()
    summary = {
        "seed": seed,
        "regime": regime,
        "settings": _jsonable(dataclasses.asdict(bench)),
        "validation_pairs": validation_pairs,
        "sizes": {split: table.num_rows for split, table in pairs.items()},
        "sft_size": sft["train"].num_rows,
        "per_language": {
            lang: {
                s: sum(r["split"] == s and r["language"] == lang for r in rows)
                for s in EXPORT_SPLITS
            }
            for lang in bench.languages
        },
        "sft_per_language": {lang: sft_rows.count(lang) for lang in bench.languages},
        "languages": list(bench.languages),
        "realized_noise": realized_noise(rows),
        "flipped": sum(bool(r["label_flipped"]) for r in rows),
    }
    (out / "README.md").write_text(dataset_card(summary, study), encoding="utf-8")
    (out / LICENSE_FILE).write_text(license_document(summary), encoding="utf-8")
    return summary


def _jsonable(value: Any) -> Any:
    """Tuples as lists, so the settings print as YAML/JSON would."""
    return json.loads(json.dumps(value))
