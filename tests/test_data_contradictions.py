"""Rows that parse but cannot be trained on as given: scores beyond float32, answers in the
wrong role, and one comparison given twice with its answers swapped. Each is quarantined with
a reason naming the field, the role or the other row, and counted in the ingest report."""

from __future__ import annotations

import json

import pyarrow.parquet as pq

from capo.data import run_ingest
from capo.params import BenchmarkParams, IngestParams, SourceParams


def ingest(tmp_path, rows: list[dict], **kw):
    """Ingest ``rows`` as one JSONL source "s"; (report, accepted pairs, quarantine by row)."""
    path = tmp_path / "s.jsonl"
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows))
    source = SourceParams(name="s", path=str(path), language="en")
    params = IngestParams(benchmark=BenchmarkParams(enabled=False), sources=(source,), **kw)
    report = run_ingest(params, seed=0, out_dir=tmp_path / "out")
    out = {k: pq.read_table(tmp_path / "out" / f"{k}.parquet").to_pylist() for k in OUTS}
    return report, out["train"] + out["test"], {q["row"]: q for q in out["quarantine"]}


OUTS = ("train", "test", "quarantine")


def pair(i: int, **fields) -> dict:
    return {"prompt": f"Which number follows {i}?", "chosen": f"{i + 1}", "rejected": "0", **fields}


def test_scores_beyond_float32_are_quarantined_naming_the_field(tmp_path):
    rows = [
        pair(1, score_chosen=1e308, score_rejected=1.0),  # finite in float64 only
        pair(2, score_chosen=2.0, score_rejected=-1e308),
        pair(3, score_chosen=4e38, score_rejected=1.0),  # just past float32's 3.4e38
        pair(4, score_chosen=10**400, score_rejected=1),  # an integer beyond float64
        pair(5, score_chosen=3e38, score_rejected=-3e38),  # within float32: kept
        pair(6, score_chosen="1e308", score_rejected="0.5"),  # numbers given as text
    ]
    report, accepted, quarantine = ingest(tmp_path, rows)
    fields = {1: "score_chosen", 2: "score_rejected", 3: "score_chosen", 4: "score_chosen"}
    fields[6] = "score_chosen"
    assert {r: (q["code"], q["field"]) for r, q in quarantine.items()} == {
        r: ("score_out_of_range", f) for r, f in fields.items()
    }
    assert "1e+308" in quarantine[1]["reason"] and "float32" in quarantine[1]["reason"]
    assert "score_rejected is -1e+308" in quarantine[2]["reason"]
    assert [(p["source_row"], p["score_chosen"]) for p in accepted] == [(5, 3e38)]
    assert report["sources"]["s"]["reasons"] == {"score_out_of_range": 5}
    assert report["languages"]["en"]["quarantined"] == 5
