"""Hugging Face datasets as an ingest source: hub names, local dataset folders, data files.

Loading goes through `datasets.load_dataset` (or `load_from_disk` for a folder written by
`save_to_disk`); any failure, such as a hub dataset that is not cached while offline,
becomes one CapoError line naming the source, instead of a traceback. The source's
``options`` are passed as builder arguments (``load_dataset(..., **options)``, for example
``{delimiter: ";"}`` for the csv builder or ``{field: data}`` for json), or to
``load_from_disk`` for a saved folder.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from capo.errors import CapoError
from capo_pipelines.data.record import Record, raw_text
from capo_pipelines.params import SourceParams

__all__ = ["load_hf", "read_hf"]

log = logging.getLogger(__name__)


def load_hf(spec: SourceParams) -> Any:
    """The `datasets.Dataset` of one hf source (its split), or a CapoError saying why not."""
    import datasets

    where = f"source {spec.name!r}: Hugging Face dataset {spec.path!r}"
    try:
        if (Path(spec.path) / "state.json").is_file() or (
            Path(spec.path) / "dataset_dict.json"
        ).is_file():
            loaded = datasets.load_from_disk(spec.path, **spec.options)
            return loaded[spec.split] if isinstance(loaded, datasets.DatasetDict) else loaded
        return datasets.load_dataset(
            spec.path,
            name=spec.config,
            split=spec.split,
            data_files=spec.data_files,
            **spec.options,
        )
    except Exception as err:  # datasets raises many types; all mean "cannot load this source"
        hint = ""
        if "offline" in str(err).lower() or isinstance(err, ConnectionError):
            hint = " (offline: download it first, or point path at a local copy)"
        elif spec.options:
            hint = f" (check ingest.sources.{spec.name}.options, passed to the builder)"
        first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise CapoError(f"{where}, split {spec.split!r}: cannot load: {first}{hint}") from None


def read_hf(spec: SourceParams, chunk_rows: int) -> Iterator[Record]:
    """Stream rows of an hf source in batches of ``chunk_rows``."""
    dataset = load_hf(spec)
    log.info("source %s: %d rows from %s", spec.name, len(dataset), spec.path)
    return _rows(dataset, chunk_rows)


def _rows(dataset: Any, chunk_rows: int) -> Iterator[Record]:
    row = 0
    for batch in dataset.iter(batch_size=chunk_rows):
        names = list(batch)
        for values in zip(*(batch[n] for n in names), strict=True):
            row += 1
            item = dict(zip(names, values, strict=True))
            yield Record(row, item, raw_text(item))
