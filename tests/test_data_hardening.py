"""Ingest on real-world files: reader options, empty sources, rows without a language, and
quarantine that can be counted per language and traced back to its source row."""

from __future__ import annotations

import json

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from capo.errors import CapoError
from capo_pipelines.data import run_ingest
from capo_pipelines.params import BenchmarkParams, IngestParams, SourceParams, parse_section

ROWS = [
    ("Quel jour vient après lundi ? Je voudrais le savoir.", "Mardi, bien sûr.", "Vendredi"),
    ("Which day comes after Monday? I would like to know.", "Tuesday, of course.", "Friday"),
    ("Welcher Tag kommt nach Montag? Ich möchte es wissen.", "Dienstag, natürlich.", "Freitag"),
]
LANGS = ("fr", "en", "de")


def ingest(tmp_path, *sources: SourceParams):
    params = IngestParams(benchmark=BenchmarkParams(enabled=False), sources=sources)
    report = run_ingest(params, seed=0, out_dir=tmp_path / "out")
    out = {k: pq.read_table(tmp_path / "out" / f"{k}.parquet").to_pylist() for k in OUTS}
    return report, out["train"] + out["test"], out["quarantine"]


OUTS = ("train", "test", "quarantine")


def semicolon_csv(path, encoding="utf-8"):
    """The ROWS as a quoted, semicolon-delimited CSV (as spreadsheets in many locales write)."""
    lines = ["prompt;chosen;rejected;language"]
    for row, lang in zip(ROWS, LANGS, strict=True):
        lines.append(";".join(f'"{text}"' for text in (*row, lang)))
    path.write_bytes(("\n".join(lines) + "\n").encode(encoding))
    return path


def test_a_semicolon_csv_fails_naming_the_delimiter_option_and_reads_with_it(tmp_path):
    path = semicolon_csv(tmp_path / "semi.csv")
    with pytest.raises(CapoError, match=r"semi\.csv: .*options: \{delimiter: \";\"\}.*'s'"):
        ingest(tmp_path, SourceParams(name="s", path=str(path)))
    semi = SourceParams(name="s", path=str(path), options={"delimiter": ";"})
    report, rows, _ = ingest(tmp_path, semi)
    assert report["accepted"] == 3 and {r["language"] for r in rows} == set(LANGS)


def test_a_wrong_delimiter_inside_quoted_rows_also_names_the_option(tmp_path):
    path = tmp_path / "q.csv"
    path.write_text('prompt,chosen,rejected\n"Which day?";"Tuesday";"Friday"\n"a";"b";"c"\n')
    with pytest.raises(CapoError, match=r"q\.csv: row 2: unreadable CSV: .*delimiter"):
        ingest(tmp_path, SourceParams(name="q", path=str(path), language="en"))


def test_encoding_option_reads_latin1_files(tmp_path):
    path = semicolon_csv(tmp_path / "latin.csv", encoding="latin-1")
    opts = {"delimiter": ";", "encoding": "latin-1"}
    report, rows, _ = ingest(tmp_path, SourceParams(name="l", path=str(path), options=opts))
    assert report["accepted"] == 3 and "Mardi, bien sûr." in {r["chosen"] for r in rows}
    jsonl = tmp_path / "latin.jsonl"
    record = dict(zip(("prompt", "chosen", "rejected"), ROWS[0], strict=True), language="fr")
    jsonl.write_bytes(json.dumps(record, ensure_ascii=False).encode("latin-1"))
    src = SourceParams(name="j", path=str(jsonl), options={"encoding": "latin-1"})
    assert ingest(tmp_path, src)[1][0]["chosen"] == "Mardi, bien sûr."


@pytest.mark.parametrize(
    ("name", "options", "match"),
    [
        ("x.jsonl", {"delimiter": ";"}, r"sources\.s\.options\.delimiter: not an option of jsonl"),
        ("x.csv", {"delimiter": ";;"}, r"sources\.s\.options: \"delimiter\" must be a 1-character"),
        ("x.csv", {"encoding": "klingon-8"}, r"sources\.s\.options\.encoding: unknown encoding"),
        ("x.csv", {"sep": ";"}, r"sources\.s\.options: 'sep' is an invalid keyword"),
    ],
)
def test_bad_options_are_named(tmp_path, name, options, match):
    path = tmp_path / name
    path.write_text("prompt,chosen,rejected\na,b,c\n")
    with pytest.raises(CapoError, match=match):
        ingest(tmp_path, SourceParams(name="s", path=str(path), language="en", options=options))


def test_options_and_allow_empty_are_params_keys():
    spec = parse_section(
        SourceParams,
        {"name": "s", "path": "a.csv", "options": {"delimiter": ";"}, "allow_empty": True},
        "ingest.sources[0]",
    )
    assert spec.options == {"delimiter": ";"} and spec.allow_empty is True


def test_hf_options_are_builder_arguments(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_DATASETS_CACHE", str(tmp_path / "hf-cache"))
    path = semicolon_csv(tmp_path / "semi.csv")
    src = SourceParams(name="h", type="hf", path="csv", data_files=str(path),
                       options={"delimiter": ";"})  # fmt: skip
    report, rows, _ = ingest(tmp_path, src)
    assert report["accepted"] == 3 and rows[0]["source_row"] in (1, 2, 3)


def _empty(tmp_path, fmt: str):
    if fmt == "hf":  # a dataset folder written by save_to_disk, with no rows
        from datasets import Dataset

        one = Dataset.from_dict({"prompt": ["a"], "chosen": ["b"], "rejected": ["c"]})
        one.filter(lambda _: False).save_to_disk(tmp_path / "e.hf")
        return {"type": "hf", "path": str(tmp_path / "e.hf")}
    path = tmp_path / f"e.{fmt}"
    if fmt == "parquet":
        schema = pa.schema([(c, pa.string()) for c in ("prompt", "chosen", "rejected")])
        pq.write_table(schema.empty_table(), path)
    else:
        path.write_text({"jsonl": "", "json": "[]", "csv": "prompt,chosen,rejected\n"}[fmt])
    return {"path": str(path)}


@pytest.mark.parametrize("fmt", ["jsonl", "json", "csv", "parquet", "hf"])
def test_a_source_without_rows_is_an_error_unless_allowed(tmp_path, fmt, monkeypatch):
    monkeypatch.setenv("HF_DATASETS_CACHE", str(tmp_path / "hf-cache"))
    where = _empty(tmp_path, fmt)
    with pytest.raises(CapoError, match=r"e\.\w+.*source 'e' has no rows.*allow_empty"):
        ingest(tmp_path, SourceParams(name="e", language="en", **where))
    allowed = SourceParams(name="e", language="en", allow_empty=True, **where)
    report, rows, _ = ingest(tmp_path, allowed)
    assert report["sources"]["e"]["read"] == 0 and rows == []


@pytest.mark.parametrize("fmt", ["json", "parquet", "csv", "jsonl"])
def test_a_zero_byte_file_is_an_empty_source(tmp_path, fmt):
    path = tmp_path / f"zero.{fmt}"
    path.write_bytes(b"")
    with pytest.raises(CapoError, match=r"zero\.\w+: source 'z' has no rows"):
        ingest(tmp_path, SourceParams(name="z", path=str(path), language="en"))


def test_rows_without_a_language_are_identified_and_quarantine_keeps_languages(tmp_path):
    records = [
        {"prompt": ROWS[0][0], "chosen": ROWS[0][1], "rejected": ROWS[0][2], "language": None},
        {"prompt": ROWS[1][0], "chosen": ROWS[1][1], "rejected": ROWS[1][2], "language": " "},
        {"prompt": ROWS[2][0], "chosen": ROWS[2][1], "rejected": ROWS[2][2], "language": "de"},
        {"prompt": "12345 + 67890", "chosen": "80235", "rejected": "1", "language": None},
        {"prompt": ROWS[2][0], "chosen": "", "rejected": "Freitag", "language": "de"},
        {"prompt": ROWS[0][0], "chosen": "", "rejected": "Vendredi", "language": None},
        {"prompt": "q", "chosen": "a", "rejected": "b", "language": "tlh-Latn"},
    ]
    path = tmp_path / "mixed.jsonl"
    path.write_text("\n".join(json.dumps(r, ensure_ascii=False) for r in records) + "\n{oops\n")
    report, rows, quarantine = ingest(tmp_path, SourceParams(name="m", path=str(path)))
    assert {r["source_row"]: r["language"] for r in rows} == {1: "fr", 2: "en", 3: "de"}
    assert {q["row"]: (q["code"], q["language"]) for q in quarantine} == {
        4: ("language_unidentified", None),
        5: ("empty_text", "de"),  # given
        6: ("empty_text", "fr"),  # identified from the text it has
        7: ("unknown_language", "tlh-Latn"),  # given, not a language capo knows
        8: ("invalid_json", None),
    }
    languages = report["sources"]["m"]["languages"]
    assert languages["de"] == {"quarantined": 1, "test": languages["de"]["test"],
                               "train": languages["de"]["train"]}  # fmt: skip
    assert report["languages"]["<missing>"] == {"quarantined": 2, "test": 0, "train": 0}
    assert report["languages"]["tlh-Latn"]["quarantined"] == 1
    assert sum(v["quarantined"] for v in report["languages"].values()) == report["quarantined"]
