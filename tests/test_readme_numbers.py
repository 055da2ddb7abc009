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
    head, *rows = _rows_between("<!-- default-run:start -->", "<!-- default-run:end -->")
    languages = head[2:]
    metrics = {
        p.stem: json.loads(p.read_text(encoding="utf-8"))
        for p in sorted((ROOT / "metrics").glob("*.json"))
    }
    seen, sft = set(), 0
    for cells in rows:
        label = cells[0]
        if label.startswith("SFT policy"):
            doc, key = metrics["capo"]["reference"], "generation_accuracy"
            sft += 1
        else:
            loss = label.split(":")[0].split(" ")[0]
            doc, key = metrics[loss], "reward_accuracy"
            seen.add(loss)
        assert cells[1] == f"{doc['overall'][key]:.3f}", label
        expected = [f"{doc['per_language'][lang][key]:.2f}" for lang in languages]
        assert cells[2:] == expected, label
    assert seen == set(metrics) and sft == 1


def test_the_table_script_reproduces_both_readme_tables():
    """scripts/readme_tables.py writes exactly what is committed (it is how they are made)."""
    import runpy

    main = runpy.run_path(str(ROOT / "scripts/readme_tables.py"))["main"]
    assert main(["--check"]) == 0


def test_real_arm_methods_table_equals_the_arm_json():
    """Every method of the real-model arm: chosen settings, validation at those settings,
    training pairs, test means and the paired difference to tuned DPO, from its JSON."""
    path = ROOT / "reports/smollm2_study.json"
    if not path.is_file():
        pytest.skip("the real-model arm has not finished")
    result = json.loads(path.read_text(encoding="utf-8"))
    summary = result["summary"]
    _, *rows = _rows_between("<!-- real-arm-methods:start -->", "<!-- real-arm-methods:end -->")
    seen = []
    for cells in rows:
        regime, variant = cells[0].strip("`"), cells[1]
        seen.append((regime, variant))
        chosen = result["settings"][regime][variant]
        assert cells[2] == ", ".join(f"{k} {v:g}" for k, v in chosen.items()), cells
        tuned = [
            t["reward_accuracy"]
            for t in result["tuning"]
            if t["regime"] == regime and t["variant"] == variant and t["settings"] == chosen
        ]
        assert len(tuned) == 1 and cells[3] == f"{tuned[0]:.3f}", cells
        runs = [r for r in result["runs"] if r["regime"] == regime and r["variant"] == variant]
        assert len(runs) == 3 and all(r["settings"] == chosen for r in runs), cells
        counts = sorted(r["train_pairs"] for r in runs)
        pairs = str(counts[0]) if counts[0] == counts[-1] else f"{counts[0]}-{counts[-1]}"
        assert cells[4] == pairs, cells
        acc = summary["means"][regime][variant]["reward_accuracy"]
        assert abs(acc["mean"] - sum(r["reward_accuracy"] for r in runs) / 3) < 1e-12
        assert cells[5] == f"{acc['mean']:.3f} [{acc['low']:.3f}, {acc['high']:.3f}]", cells
        if variant == summary["baseline"]:
            assert cells[6] == "-"
        else:
            assert cells[6] == _signed(summary["paired"][regime][variant]["reward_accuracy"])
        margin = summary["means"][regime][variant]["reward_margin"]
        assert cells[7].startswith(f"{margin['mean']:.3f} ["), cells
    expected = [(r, v) for r in summary["regimes"] for v in summary["means"][r]]
    assert seen == expected
