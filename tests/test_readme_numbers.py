"""The README's numbers are the committed ones: the headline table is the noise study's
(reports/noise_study.json), the default-run table the committed metrics/<loss>.json."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _block(name: str) -> str:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    return text[text.index(f"<!-- {name}:start -->") : text.index(f"<!-- {name}:end -->")]


def _headline_rows(name: str) -> dict[str, str]:
    rows = [line for line in _block(name).splitlines() if line.startswith("| ")]
    return {row.split("|")[1].strip().strip("`"): row for row in rows[1:]}


def _signed(est: dict) -> str:
    text = f"{est['mean']:+.3f} [{est['low']:+.3f}, {est['high']:+.3f}]"
    return text + ("*" if est["low"] > 0 or est["high"] < 0 else "")


@pytest.mark.parametrize(
    ("block", "study"),
    [("headline", "reports/noise_study.json"), ("real-arm", "reports/smollm2_study.json")],
)
def test_headline_table_equals_the_study_json(block, study):
    """Every cell of study v3's verdict table (and its real-model arm's), recomputed here
    from the JSON's summary: the means, the best other method by test mean, and CAPO's
    Bonferroni-corrected differences. An arm without its JSON says it has not finished."""
    if not (ROOT / study).is_file():
        assert "has not finished" in _block(block) and "| " not in _block(block)
        return
    result = json.loads((ROOT / study).read_text(encoding="utf-8"))
    summary = result["summary"]
    base, cand, oracle = summary["baseline"], summary["candidate"], summary["oracle"]
    rows = _headline_rows(block)
    assert set(rows) == set(summary["regimes"])
    for regime in summary["regimes"]:
        cells = [c.strip() for c in rows[regime].split("|")[1:-1]]
        means = summary["means"][regime]
        corrected = summary["verdicts"][regime]["corrected"]
        assert corrected["correction"] == "bonferroni" and corrected["level"] > 0.95, regime
        acc, margin = corrected["vs"]["reward_accuracy"], corrected["vs"]["reward_margin"]
        others = {v: m["reward_accuracy"]["mean"] for v, m in means.items()}
        for name in (cand, base, oracle):
            others.pop(name, None)
        best = max(others, key=others.get)
        assert cells[1] == f"{means[base]['reward_accuracy']['mean']:.3f}", regime
        assert cells[2] == f"{means[cand]['reward_accuracy']['mean']:.3f}", regime
        assert cells[3] == f"{best} {others[best]:.3f}", regime
        assert cells[4] == _signed(acc[base]), regime
        assert cells[5] == _signed(acc[best]), regime
        assert cells[6] == _signed(margin[base]), regime
        assert cells[7] == corrected["validation_pick"], regime
        assert cells[8] == corrected["text"], regime
        # the verdict text follows the pre-registered rule from the intervals themselves
        helps = acc[base]["low"] > 0 and all(e["high"] >= 0 for e in acc.values())
        assert corrected["helps"] == helps, regime


def _rows_between(start: str, end: str) -> list[list[str]]:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    block = text[text.index(start) : text.index(end)]
    rows = [line for line in block.splitlines() if line.startswith("| ")]
    return [[c.strip() for c in row.split("|")[1:-1]] for row in rows]


def test_default_run_table_equals_the_committed_metrics():
    head, _, *rows = _rows_between("<!-- default-run:start -->", "<!-- default-run:end -->")
    languages = head[2:]
    metrics = {
        p.stem: json.loads(p.read_text(encoding="utf-8"))
        for p in sorted((ROOT / "metrics").glob("*.json"))
    }
    seen = set()
    for cells in rows:
        label = cells[0]
        if label.startswith("SFT policy"):
            doc, key = metrics["capo"]["reference"], "generation_accuracy"
        else:
            loss = label.split(":")[0].split(" ")[0]
            doc, key = metrics[loss], "reward_accuracy"
            seen.add(loss)
        assert cells[1] == f"{doc['overall'][key]:.3f}", label
        expected = [f"{doc['per_language'][lang][key]:.2f}" for lang in languages]
        assert cells[2:] == expected, label
    assert seen == set(metrics)


def test_the_table_script_reproduces_both_readme_tables():
    """scripts/readme_tables.py writes exactly what is committed (it is how they are made)."""
    import runpy

    main = runpy.run_path(str(ROOT / "scripts/readme_tables.py"))["main"]
    assert main(["--check"]) == 0
