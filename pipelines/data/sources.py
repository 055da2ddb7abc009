"""Readers for ingest sources: JSONL, JSON, CSV, Parquet files and Hugging Face datasets.

Each reader streams `Record`s: one per source row, numbered from 1, holding the parsed
mapping or, when the row itself cannot be parsed (invalid JSON or UTF-8, a CSV row with
the wrong number of fields, an oversized line), the reason it will be quarantined for.
Problems with a whole file (missing, unreadable, truncated Parquet or JSON, a JSON file
that is not an array, broken CSV quoting) raise CapoError naming the file and row.
Blank lines of JSONL are not rows. Invalid UTF-8 inside CSV and JSON strings is kept as
lone surrogates and quarantined by the row checker. An empty file (no bytes, only a header,
``[]``, a Parquet file without rows) yields no records; the caller decides if that is an error.

A source's ``options`` go to its reader: ``encoding`` for every file format (UTF-8 by
default; JSONL needs an ASCII-compatible one), the `csv` module's dialect settings for CSV
(``delimiter``, ``quotechar``, ``escapechar``, ``doublequote``, ``skipinitialspace``, ...),
`pyarrow.parquet.ParquetFile` arguments for Parquet. A CSV error that a wrong delimiter
explains names the ``delimiter`` option and the delimiter the file seems to use.
"""

from __future__ import annotations

import codecs
import csv
import json
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from capo.errors import CapoError
from capo_pipelines.data.record import Record, raw_text
from capo_pipelines.params import SourceParams

__all__ = ["FORMATS", "read_source", "source_format"]

FORMATS = {".jsonl": "jsonl", ".ndjson": "jsonl", ".json": "json", ".csv": "csv"}
FORMATS |= {".parquet": "parquet", ".pq": "parquet"}
_BOM = b"\xef\xbb\xbf"
_DELIMITERS = ",;\t|"


def source_format(spec: SourceParams) -> str:
    """The file format of a file source: its `format`, else from the file suffix."""
    if spec.format:
        return spec.format
    fmt = FORMATS.get(Path(spec.path).suffix.lower())
    if fmt is None:
        raise CapoError(
            f"{spec.path}: unknown file type; set format (one of jsonl, json, csv, parquet)"
        )
    return fmt


def read_source(spec: SourceParams, chunk_rows: int, max_row_chars: int) -> Iterator[Record]:
    """Stream the rows of one source (see the module docstring for what raises)."""
    if spec.type == "hf":
        from capo_pipelines.data.hf_source import read_hf  # imports datasets only when needed

        return read_hf(spec, chunk_rows)
    path = Path(spec.path)
    if not path.is_file():
        raise CapoError(f"{path}: source {spec.name!r}: file not found")
    fmt = source_format(spec)
    options = dict(spec.options)
    encoding = _encoding(spec, options.pop("encoding", "utf-8"), fmt)
    if options and fmt in ("jsonl", "json"):
        raise CapoError(
            f"ingest.sources.{spec.name}.options.{next(iter(options))}: not an option of"
            f" {fmt} files (known: encoding)"
        )
    if fmt == "jsonl":
        return _read_jsonl(path, max_row_chars, encoding)
    if fmt == "json":
        return _read_json(path, encoding)
    if fmt == "csv":
        return _read_csv(path, spec.name, encoding, options)
    return _read_parquet(path, chunk_rows, spec.name, options)


def _encoding(spec: SourceParams, name: Any, fmt: str) -> str:
    """The codec name of ``options.encoding``, or a CapoError naming the option."""
    where = f"ingest.sources.{spec.name}.options.encoding"
    try:
        codec = codecs.lookup(name).name
    except (LookupError, TypeError):
        raise CapoError(f"{where}: unknown encoding {name!r}") from None
    if fmt == "jsonl" and codec.startswith(("utf-16", "utf-32")):
        raise CapoError(f"{where}: JSONL lines cannot be split in {codec}; convert to UTF-8")
    return codec


def _open(path: Path, mode: str = "rb", **kwargs: Any) -> Any:
    try:
        return path.open(mode, **kwargs)
    except OSError as err:
        raise CapoError(f"{path}: cannot read: {err.strerror or err}") from err


def _read_jsonl(path: Path, max_row_chars: int, encoding: str = "utf-8") -> Iterator[Record]:
    with _open(path) as fh:
        for row, line in enumerate(fh, 1):
            line = line.removeprefix(_BOM) if row == 1 and encoding == "utf-8" else line
            if not line.strip():
                continue
            yield _parse_json_line(row, line.rstrip(b"\r\n"), max_row_chars, encoding)


def _parse_json_line(row: int, line: bytes, max_row_chars: int, encoding: str) -> Record:
    raw = raw_text(line.decode(encoding, "backslashreplace"))
    if len(line) > 4 * max_row_chars:  # a UTF-8 character is at most 4 bytes
        return Record(row, None, raw, "row_too_large", f"line of {len(line)} bytes")
    try:
        text = line.decode(encoding)
    except UnicodeDecodeError as err:
        code = "invalid_utf8" if encoding == "utf-8" else "invalid_encoding"
        return Record(row, None, raw, code, f"invalid {encoding} at byte {err.start}")
    try:
        data = json.loads(text)
    except json.JSONDecodeError as err:
        return Record(
            row, None, raw, "invalid_json", f"invalid JSON: {err.msg} at column {err.colno}"
        )
    if not isinstance(data, dict):
        return Record(
            row, None, raw, "not_an_object", f"expected a JSON object, got {type(data).__name__}"
        )
    return Record(row, data, raw)


def _read_json(path: Path, encoding: str = "utf-8") -> Iterator[Record]:
    with _open(path) as fh:
        blob = fh.read()
    text = blob.removeprefix(_BOM).decode(encoding, "surrogateescape")
    if not text.strip():
        return
    try:
        data = json.loads(text)
    except json.JSONDecodeError as err:
        raise CapoError(
            f"{path}: invalid JSON at line {err.lineno} column {err.colno}: {err.msg}"
        ) from None
    if not isinstance(data, list):
        raise CapoError(f"{path}: expected a JSON array of objects, got {type(data).__name__}")
    for row, item in enumerate(data, 1):
        if isinstance(item, dict):
            yield Record(row, item, raw_text(item))
        else:
            reason = f"expected a JSON object, got {type(item).__name__}"
            yield Record(row, None, raw_text(item), "not_an_object", reason)


def _read_csv(
    path: Path, name: str, encoding: str = "utf-8", options: dict[str, Any] | None = None
) -> Iterator[Record]:
    csv.field_size_limit(sys.maxsize)  # oversized fields are quarantined by the row checker
    encoding = "utf-8-sig" if encoding == "utf-8" else encoding
    dialect = {"strict": True, **(options or {})}
    with _open(path, "r", encoding=encoding, errors="surrogateescape", newline="") as fh:
        try:
            reader = csv.reader(fh, **dialect)
        except TypeError as err:
            raise CapoError(f"ingest.sources.{name}.options: {err}") from None
        try:
            header = next(reader, None)
            if header is None:
                return
            _check_header(path, header, name, encoding, reader.dialect.delimiter)
            for row, values in enumerate(reader, 1):
                if not values:
                    continue
                yield _csv_record(row, header, values, reader.dialect.delimiter)
        except csv.Error as err:
            hint = _delimiter_hint(path, name, encoding, reader.dialect.delimiter)
            raise CapoError(f"{path}: row {reader.line_num}: unreadable CSV: {err}{hint}") from None


def _delimiter_hint(path: Path, name: str, encoding: str, delimiter: str) -> str:
    """A hint naming the ``delimiter`` option, with the one the file seems to use."""
    with _open(path, "r", encoding=encoding, errors="replace", newline="") as fh:
        sample = fh.read(1 << 16)
    try:
        found = csv.Sniffer().sniff(sample, delimiters=_DELIMITERS).delimiter
    except csv.Error:
        found = None
    if found == delimiter:
        return ""
    if found is None:
        return f" (not {delimiter!r}-delimited? set options.delimiter on source {name!r})"
    return (
        f" (the file looks {found!r}-delimited: set `options: {{delimiter: {json.dumps(found)}}}`"
        f" on source {name!r})"
    )


def _check_header(path: Path, header: list[str], name: str, encoding: str, sep: str) -> None:
    dupes = sorted({h for h in header if header.count(h) > 1})
    if dupes:
        raise CapoError(f"{path}: row 0 (header): duplicate column {dupes[0]!r}")
    hint = _delimiter_hint(path, name, encoding, sep) if len(header) == 1 else ""
    if hint:  # one column never holds a pair: the delimiter is wrong
        raise CapoError(f"{path}: row 0 (header): one column {header[0][:80]!r}{hint}")


def _csv_record(row: int, header: list[str], values: list[str], sep: str = ",") -> Record:
    raw = raw_text(sep.join(values))
    if len(values) != len(header):
        reason = f"expected {len(header)} fields, got {len(values)}"
        return Record(row, None, raw, "bad_csv_row", reason)
    return Record(row, dict(zip(header, values, strict=True)), raw)


def _read_parquet(
    path: Path, chunk_rows: int, name: str = "", options: dict[str, Any] | None = None
) -> Iterator[Record]:
    if path.stat().st_size == 0:
        return
    row = 0
    try:
        try:
            parquet = pq.ParquetFile(path, **(options or {}))
        except TypeError as err:
            raise CapoError(f"ingest.sources.{name}.options: {err}") from None
        for batch in parquet.iter_batches(batch_size=chunk_rows):
            for item in batch.to_pylist():
                row += 1
                yield Record(row, item, raw_text(item))
    except (OSError, pa.ArrowException) as err:
        raise CapoError(f"{path}: unreadable Parquet after row {row}: {err}") from None
