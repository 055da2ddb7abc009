"""validate stage entry point: outputs, Data Docs that work offline, exit 3 on a failed gate."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from capo.errors import EXIT_INPUT, CapoError
from capo_pipelines.validate import main
from capo_pipelines.validation.docs import ASSET_DIR
from tests.validate_data import clean_pairs

ROOT = Path(__file__).resolve().parents[1]


def _write_inputs(
    tmp_path: Path, df: pd.DataFrame, max_failing: float = 0.05, min_rows: int | None = None
) -> list[str]:
    pairs = tmp_path / "pairs"
    pairs.mkdir(parents=True)
    for split in ("train", "test"):
        df[df["split"] == split].to_parquet(pairs / f"{split}.parquet", index=False)
    params = tmp_path / "params.yaml"
    text = f"validate:\n  max_failing_fraction: {max_failing}\n"
    if min_rows is not None:  # else the default (20): every language here has 3 rows
        text += f"  min_language_rows: {min_rows}\n"
    params.write_text(text, encoding="utf-8")
    return [
        "--params",
        str(params),
        "--pairs",
        str(pairs),
        "--out",
        str(tmp_path / "out"),
        "--reports",
        str(tmp_path / "reports"),
    ]


def _hostile() -> pd.DataFrame:
    df = clean_pairs()
    german = df["language"] == "de"
    # English (lingua: en 0.99) in German rows: confidently another configured language
    df.loc[german, "chosen"] = "The weather is lovely today, and the children play in the garden."
    return df


def test_stage_writes_outputs_and_offline_data_docs(tmp_path):
    main(_write_inputs(tmp_path, clean_pairs()))
    out, reports = tmp_path / "out", tmp_path / "reports"
    train, test = pd.read_parquet(out / "train.parquet"), pd.read_parquet(out / "test.parquet")
    quarantine = pd.read_parquet(out / "quarantine.parquet")
    assert (len(train), len(test), len(quarantine)) == (18, 9, 0)
    assert "failed_expectations" in quarantine.columns
    metrics = json.loads((reports / "validation.json").read_text(encoding="utf-8"))
    assert metrics["passed"] is True and metrics["rows"]["read"] == 27
    assert metrics["languages"]["ja"] == {"rows": 3, "quarantined": 0, "pass_rate": 1.0}

    docs = reports / "data_docs"
    (page,) = (docs / "validations").rglob("*.html")
    html = page.read_text(encoding="utf-8")
    assert "capo_pairs" in html and f"{ASSET_DIR}/bootstrap.min.css" in html  # served locally
    # the results are in the HTML itself, not fetched by JavaScript from a CDN
    assert "chosen must differ from rejected" in html and "must be in the row's language" in html
    assert "capo gate: passed." in html  # tests/test_data_docs_offline.py: the rest, in Chromium
    link = page.relative_to(docs).as_posix()
    assert f'<a href="{link}">' in (docs / "index.html").read_text(encoding="utf-8")
    assert "capo_pairs" in (docs / "expectations" / "capo_pairs.html").read_text(encoding="utf-8")


def test_rerun_replaces_the_previous_data_docs(tmp_path):
    args = _write_inputs(tmp_path, clean_pairs())
    main(args)
    main(args)
    assert len(list((tmp_path / "reports" / "data_docs" / "validations").rglob("*.html"))) == 1


def test_gate_failure_raises_capo_error_after_writing_outputs(tmp_path):
    with pytest.raises(CapoError, match=r"language de: 3/3 rows \(100\.0%\) quarantined"):
        main(_write_inputs(tmp_path, _hostile(), min_rows=3))
    quarantine = pd.read_parquet(tmp_path / "out" / "quarantine.parquet")
    assert set(quarantine["language"]) == {"de"}
    names = {name for names in quarantine["failed_expectations"] for name in names}
    assert names == {"expect_column_pair_text_to_be_in_row_language(language,chosen)"}
    metrics = json.loads((tmp_path / "reports" / "validation.json").read_text(encoding="utf-8"))
    assert metrics["passed"] is False and metrics["languages"]["de"]["pass_rate"] == 0.0


def test_min_language_rows_in_params_yaml_sets_the_language_floor(tmp_path):
    """The one Russian row labelled de (the only de row) fails the gate only when params.yaml
    lowers validate.min_language_rows to 1; by default the report lists de as not gated alone."""
    df = clean_pairs()
    russian = df[(df["language"] == "ru") & (df["split"] == "train")].iloc[0]
    mislabelled = {**russian.to_dict(), "language": "de", "id": "ru-as-de"}
    df = pd.concat([df[df["language"] != "de"], pd.DataFrame([mislabelled])], ignore_index=True)
    main(_write_inputs(tmp_path / "default", df))
    report = tmp_path / "default" / "reports" / "validation.json"
    metrics = json.loads(report.read_text(encoding="utf-8"))
    assert metrics["passed"] is True and metrics["rows"]["quarantined"] == 1
    assert metrics["language_floor"]["min_language_rows"] == 20
    assert "de" in metrics["language_floor"]["not_gated_alone"]
    with pytest.raises(CapoError, match=r"language de: 1/1 rows \(100\.0%\) quarantined"):
        main(_write_inputs(tmp_path / "one", df, min_rows=1))


def test_missing_input_is_a_capo_error(tmp_path):
    params = tmp_path / "params.yaml"
    params.write_text("validate: {}\n", encoding="utf-8")
    with pytest.raises(CapoError, match=r"train\.parquet: cannot read pairs"):
        main(["--params", str(params), "--pairs", str(tmp_path / "nowhere")])


@pytest.mark.slow
def test_entry_point_exits_3_with_summary_and_no_traceback(tmp_path):
    args = _write_inputs(tmp_path, _hostile(), min_rows=3)
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]),
    }
    proc = subprocess.run(
        [sys.executable, "-m", "capo_pipelines.validate", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert proc.returncode == EXIT_INPUT, proc.stderr
    (error,) = [ln for ln in proc.stderr.splitlines() if ln.startswith("validate: error:")]
    verdict = "validation failed: 27 rows read, 24 accepted, 3 quarantined"
    assert error == f"validate: error: {tmp_path / 'pairs'}: {verdict}"  # input, then verdict
    assert "language de:" in proc.stderr and "Traceback" not in proc.stderr
    # the stage's log is its own: none of Great Expectations' INFO chatter (hundreds of
    # lines logged while it is imported, "Skipping registering function ...")
    assert " INFO " in proc.stderr
    assert not [
        ln for ln in proc.stderr.splitlines() if " INFO " in ln and "validate INFO" not in ln
    ]
    assert "Skipping registering" not in proc.stderr
