"""Ingest: formats, column mapping, language, dedup, stable split, HF datasets, the stage."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq
import pytest

from capo.errors import EXIT_INPUT, CapoError
from capo_pipelines.data import PAIR_SCHEMA, QUARANTINE_SCHEMA, run_ingest
from capo_pipelines.params import BenchmarkParams, IngestParams, SourceParams

ROOT = Path(__file__).resolve().parents[1]
PAIRS = [
    {"prompt": "Which day comes after Monday?", "chosen": "Tuesday", "rejected": "Sunday"},
    {"prompt": "Welcher Tag kommt nach Montag?", "chosen": "Dienstag", "rejected": "Sonntag"},
    {"prompt": "Какой день идёт после понедельника?", "chosen": "вторник", "rejected": "среда"},
    {"prompt": "सोमवार के बाद कौन सा दिन आता है?", "chosen": "मंगलवार", "rejected": "रविवार"},
    {"prompt": "月曜日の次は何曜日ですか？", "chosen": "火曜日", "rejected": "日曜日"},
]
LANGS = ["en", "de", "ru", "hi", "ja"]


def ingest(tmp_path, *sources, out="out", **kw):
    params = IngestParams(benchmark=BenchmarkParams(enabled=False), sources=sources, **kw)
    report = run_ingest(params, seed=0, out_dir=tmp_path / out)
    tables = {k: pq.read_table(tmp_path / out / f"{k}.parquet") for k in ("train", "test")}
    rows = tables["train"].to_pylist() + tables["test"].to_pylist()
    return report, rows


def write(path: Path, rows: list[dict]) -> Path:
    frame = pd.DataFrame(rows)
    if path.suffix == ".jsonl":
        frame.to_json(path, orient="records", lines=True, force_ascii=False)
    elif path.suffix == ".json":
        frame.to_json(path, orient="records", force_ascii=False)
    elif path.suffix == ".csv":
        frame.to_csv(path, index=False)
    else:
        frame.to_parquet(path, index=False)
    return path


@pytest.mark.parametrize("suffix", [".jsonl", ".json", ".csv", ".parquet"])
def test_each_file_format_gives_the_same_pairs(tmp_path, suffix):
    rows = [{**p, "language": lang} for p, lang in zip(PAIRS, LANGS, strict=True)]
    path = write(tmp_path / f"pairs{suffix}", rows)
    report, got = ingest(tmp_path, SourceParams(name="f", path=str(path)))
    assert report["accepted"] == len(PAIRS) == report["read"]
    assert sorted((r["language"], r["chosen"]) for r in got) == sorted(
        zip(LANGS, [p["chosen"] for p in PAIRS], strict=True)
    )
    assert all(r["source"] == "f" and r["score_chosen"] is None for r in got)


def test_outputs_follow_the_schema(tmp_path):
    path = write(tmp_path / "p.jsonl", [{**p, "language": "en"} for p in PAIRS[:1]])
    ingest(tmp_path, SourceParams(name="f", path=str(path)))
    for name in ("train", "test"):
        assert pq.read_schema(tmp_path / "out" / f"{name}.parquet").equals(PAIR_SCHEMA)
    assert pq.read_schema(tmp_path / "out" / "quarantine.parquet").equals(QUARANTINE_SCHEMA)


def test_column_mapping_fixed_language_and_langid(tmp_path):
    mapped = [{"q": p["prompt"], "good": p["chosen"], "bad": p["rejected"], "s1": 8, "s2": 3}
              for p in PAIRS]  # fmt: skip
    cols = {"prompt": "q", "chosen": "good", "rejected": "bad"}
    cols |= {"score_chosen": "s1", "score_rejected": "s2"}
    path = write(tmp_path / "m.jsonl", mapped)
    _, got = ingest(tmp_path, SourceParams(name="m", path=str(path), columns=cols))
    assert sorted(r["language"] for r in got) == sorted(LANGS)  # identified by lingua
    assert {(r["score_chosen"], r["score_rejected"]) for r in got} == {(8.0, 3.0)}
    _, fixed = ingest(
        tmp_path, SourceParams(name="m", path=str(path), columns=cols, language="de"), out="o2"
    )
    assert {r["language"] for r in fixed} == {"de"}


def test_trl_conversational_formats_render_as_plain_text(tmp_path):
    explicit = {
        "prompt": [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "2+2?"}],
        "chosen": [{"role": "assistant", "content": "4"}],
        "rejected": [{"role": "assistant", "content": "5"}],
    }
    shared = [{"role": "user", "content": "Capital of France?"}]
    implicit = {
        "chosen": [*shared, {"role": "assistant", "content": "Paris"}],
        "rejected": [*shared, {"role": "assistant", "content": "Lyon"}],
    }
    a = tmp_path / "explicit.jsonl"
    a.write_text(json.dumps(explicit) + "\n")
    b = tmp_path / "implicit.jsonl"
    b.write_text(json.dumps(implicit) + "\n")
    _, got = ingest(
        tmp_path,
        SourceParams(name="a", path=str(a), language="en"),
        SourceParams(name="b", path=str(b), language="en"),
    )
    by_source = {r["source"]: r for r in got}
    assert by_source["a"]["prompt"] == "system: Be brief.\nuser: 2+2?"
    assert (by_source["a"]["chosen"], by_source["a"]["rejected"]) == ("4", "5")
    assert by_source["b"]["prompt"] == "Capital of France?"
    assert (by_source["b"]["chosen"], by_source["b"]["rejected"]) == ("Paris", "Lyon")


def test_duplicates_across_sources_are_quarantined(tmp_path):
    rows = [{**p, "language": lang} for p, lang in zip(PAIRS, LANGS, strict=True)]
    a = write(tmp_path / "a.jsonl", rows)
    b = write(tmp_path / "b.csv", [*rows[:2], {**rows[2], "chosen": "вторник!"}])
    report, got = ingest(
        tmp_path, SourceParams(name="a", path=str(a)), SourceParams(name="b", path=str(b))
    )
    assert len(got) == len({r["id"] for r in got}) == len(PAIRS) + 1
    assert report["sources"]["b"]["reasons"] == {"duplicate": 2}
    assert report["accepted"] + report["quarantined"] == report["read"] == 2 * len(PAIRS) - 2


def test_split_is_stable_when_data_grows(tmp_path):
    rows = [
        {"prompt": f"Question {i}?", "chosen": f"answer {i}", "rejected": "no"} for i in range(300)
    ]
    small = write(tmp_path / "small.jsonl", rows[:100])
    big = write(tmp_path / "big.jsonl", rows[50:] + rows[:50])
    src = {"name": "s", "language": "en"}
    _, a = ingest(tmp_path, SourceParams(path=str(small), **src), out="a")
    _, b = ingest(tmp_path, SourceParams(path=str(big), **src), out="b")
    split_b = {r["id"]: r["split"] for r in b}
    assert all(split_b[r["id"]] == r["split"] for r in a)
    share = sum(r["split"] == "test" for r in b) / len(b)
    assert 0.12 < share < 0.28  # test_fraction 0.2 by hash


def test_default_run_is_byte_deterministic_and_consistent(tmp_path):
    params = IngestParams(benchmark=BenchmarkParams(train_pairs=180, test_pairs=45))
    reports = [run_ingest(params, seed=0, out_dir=tmp_path / d) for d in ("a", "b")]
    for name in ("train.parquet", "test.parquet", "quarantine.parquet", "ingest_report.json"):
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes()
    report = reports[0]
    assert report["splits"] == {"train": 180, "test": 45}
    assert report["read"] == report["accepted"] + report["quarantined"] == 225
    train = pq.read_table(tmp_path / "a" / "train.parquet").to_pandas()
    assert train["label_flipped"].sum() > 0 and train["gold"].notna().all()
    other = run_ingest(params, seed=1, out_dir=tmp_path / "c")
    assert other["splits"] == report["splits"]
    assert (tmp_path / "c" / "train.parquet").read_bytes() != (
        tmp_path / "a" / "train.parquet"
    ).read_bytes()


def test_hf_dataset_sources_local_files_and_saved_folders(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_DATASETS_CACHE", str(tmp_path / "hf-cache"))
    import datasets

    rows = [{**p, "lang": lang} for p, lang in zip(PAIRS, LANGS, strict=True)]
    data = write(tmp_path / "d.jsonl", rows)
    datasets.Dataset.from_list(rows).save_to_disk(str(tmp_path / "saved"))
    cols = {"language": "lang"}
    sources = (
        SourceParams(name="json", type="hf", path="json", data_files=str(data), columns=cols),
        SourceParams(name="saved", type="hf", path=str(tmp_path / "saved"), columns=cols),
    )
    report, got = ingest(tmp_path, *sources)
    assert report["sources"]["json"]["accepted"] == len(PAIRS)
    assert report["sources"]["saved"]["reasons"] == {"duplicate": len(PAIRS)}
    assert sorted(r["language"] for r in got) == sorted(LANGS)


def test_hf_hub_dataset_offline_is_a_clear_error(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
    monkeypatch.setenv("HF_DATASETS_CACHE", str(tmp_path / "hf-cache"))
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf-home"))
    src = SourceParams(name="uf", type="hf", path="no-such-org/no-such-dataset", split="train")
    with pytest.raises(
        CapoError, match=r"source 'uf'.*no-such-org/no-such-dataset.*cannot load.*offline"
    ):
        ingest(tmp_path, src)


def test_stage_exits_3_with_one_line_on_bad_input(tmp_path, capsys):
    from capo_pipelines._stage import run_stage
    from capo_pipelines.ingest import main

    params = tmp_path / "params.yaml"
    params.write_text("seed: 0\ningest:\n  sources:\n    - {name: x, path: missing.jsonl}\n")
    argv = ["--params", str(params), "--out", str(tmp_path / "o")]
    with pytest.raises(SystemExit) as exit_info:
        run_stage("ingest", lambda: main(argv))
    assert exit_info.value.code == EXIT_INPUT
    err = capsys.readouterr().err
    assert "ingest: error: missing.jsonl: source 'x': file not found" in err
    assert "Traceback" not in err


def test_stage_command_rejects_unknown_params_keys(tmp_path):
    params = tmp_path / "params.yaml"
    params.write_text("seed: 0\ningest:\n  test_fractoin: 0.1\n")
    proc = subprocess.run(
        [sys.executable, "-m", "capo_pipelines.ingest", "--params", str(params),
         "--out", str(tmp_path)],
        cwd=ROOT, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert proc.returncode == EXIT_INPUT and "Traceback" not in proc.stderr
    assert "params.yaml: ingest.test_fractoin: unknown key" in proc.stderr
