"""The compare report from hand-made metrics files: JSON, Markdown, PNGs, HTML in Chromium."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pandas as pd
import pytest

from capo.errors import CapoError
from capo_pipelines.evaluation.comparison import (
    compare_losses,
    compare_pair,
    load_metrics,
    read_curves,
)
from capo_pipelines.reporting.comparison_report import headline

LANGS = ("de", "en", "hi")


def _doc(acc: dict[str, float], margin: float = 0.2, gen: float = 0.5) -> dict:
    per = {
        lang: {
            "reward_accuracy": a,
            "reward_margin": margin,
            "generation_accuracy": gen,
            "language_fidelity": 0.9,
            "pairs": 10,
            "verifiable": 10,
        }
        for lang, a in acc.items()
    }
    overall = {
        "reward_accuracy": sum(acc.values()) / len(acc),
        "reward_margin": margin,
        "generation_accuracy": gen,
        "language_fidelity": 0.9,
        "pairs": 30,
        "verifiable": 30,
    }
    return {"overall": overall, "per_language": per}


METRICS = {
    "capo": _doc({"de": 0.6, "en": 0.9, "hi": 0.3}, margin=0.4, gen=0.6),
    "sigmoid": _doc({"de": 0.5, "en": 0.9, "hi": 0.0}, margin=0.3),  # hi: a zero baseline
    "ipo": _doc({"de": 0.8, "en": 0.6, "hi": 0.2}, margin=0.1),
}
METRICS["capo"]["reference"] = {
    "overall": {
        "generation_accuracy": 0.4,
        "language_fidelity": 0.8,
        "gold_language_fidelity": 0.95,
        "verifiable": 30,
    },
    "per_language": {
        lang: {
            "generation_accuracy": 0.4,
            "language_fidelity": 0.8,
            "gold_language_fidelity": 0.95,
            "verifiable": 10,
        }
        for lang in LANGS
    },
}


def test_compare_pair_relative_change_worse_and_zero_baseline():
    pair = compare_pair(METRICS["capo"], METRICS["sigmoid"])
    de, en, hi = (pair["per_language"][x] for x in LANGS)
    assert de["reward_accuracy_relative_change"] == pytest.approx(0.2)
    assert de["reward_accuracy_change"] == pytest.approx(0.1)
    assert en["reward_accuracy_relative_change"] == 0.0 and en["worse"] == 0
    assert hi["reward_accuracy_relative_change"] is None  # zero baseline: no relative change
    assert hi["baseline_reward_accuracy"] == 0.0 and hi["reward_accuracy"] == 0.3
    assert pair["mean_relative_change"] == pytest.approx(0.1)  # mean of +20% and 0%
    assert pair["languages_worse"] == 0
    assert pair["overall"]["reward_margin"] == 0.4
    assert pair["overall"]["baseline_reward_margin"] == 0.3
    vs_ipo = compare_pair(METRICS["capo"], METRICS["ipo"], tolerance=0.15)
    assert vs_ipo["per_language"]["de"]["worse"] == 1  # 0.6 vs 0.8: beyond the tolerance
    assert vs_ipo["per_language"]["hi"]["worse"] == 0  # 0.3 vs 0.2
    assert vs_ipo["languages_worse"] == 1


def test_compare_losses_keys_headline_and_errors():
    noise = {"overall": {"weight_ratio": 0.5}, "per_language": {}}
    out = compare_losses(METRICS, "capo", "sigmoid", noise=noise)
    assert set(out) == {"capo_vs_sigmoid", "capo_vs_ipo", "headline", "noise"}
    assert out["headline"]["languages_worse"] == 0
    assert out["headline"]["mean_language_relative_change"] == pytest.approx(0.1)
    json.dumps(out, allow_nan=False)
    lines = headline(out, "capo", "sigmoid")
    assert "none" in lines[-1] and "+" in lines[0]
    worse = headline(compare_losses(METRICS, "capo", "ipo"), "capo", "ipo")
    assert worse[-1] == "Languages where it is worse: de."
    with pytest.raises(CapoError, match="no evaluate metrics"):
        compare_losses(METRICS, "capo", "robust")


def _write_inputs(root: Path) -> dict[str, Path]:
    metrics = root / "metrics"
    metrics.mkdir()
    for loss, doc in METRICS.items():
        (metrics / f"{loss}.json").write_text(json.dumps(doc))
    train = pd.DataFrame(
        {
            "id": [f"p{i}" for i in range(8)],
            "language": ["de", "hi"] * 4,
            "label_flipped": [True, False, False, False, True, True, False, False],
        }
    )
    train.to_parquet(root / "train.parquet")
    weights = pd.DataFrame(
        {"id": [f"p{i}" for i in range(8)], "w": [0.2, 1.0, 0.9, 1.1, 0.4, 0.3, 1.0, 0.8]}
    )
    (root / "models" / "capo").mkdir(parents=True)
    weights.to_parquet(root / "models" / "capo" / "pair_weights.parquet")
    for loss in ("capo", "sigmoid"):  # ipo has no curve: left out of the chart
        tsv = root / "live" / loss / "plots" / "metrics" / "train" / "rewards" / "accuracies.tsv"
        tsv.parent.mkdir(parents=True)
        tsv.write_text("step\taccuracies\n5\t0.5\n10\t0.625\n15\t0.75\n")
    (root / "params.yaml").write_text("train: {losses: [capo, sigmoid, ipo]}\n")
    return {"metrics": metrics, "live": root / "live"}


def _run_compare(root: Path) -> Path:
    from capo_pipelines.compare import main

    _write_inputs(root)
    out = root / "reports"
    main(
        [
            "--params",
            str(root / "params.yaml"),
            "--metrics",
            str(root / "metrics"),
            "--live",
            str(root / "live"),
            "--train",
            str(root / "train.parquet"),
            "--models",
            str(root / "models"),
            "--out-md",
            str(out / "comparison.md"),
            "--out-html",
            str(out / "comparison.html"),
            "--out-json",
            str(out / "comparison.json"),
            "--figures",
            str(out / "figures"),
        ]
    )
    return out


def test_load_metrics_and_read_curves(tmp_path):
    paths = _write_inputs(tmp_path)
    assert set(load_metrics(paths["metrics"], ["capo", "ipo"])) == {"capo", "ipo"}
    (paths["metrics"] / "bad.json").write_text("[1, 2]")
    with pytest.raises(CapoError, match="overall"):
        load_metrics(paths["metrics"], ["bad"])
    with pytest.raises(CapoError, match="cannot read"):
        load_metrics(paths["metrics"], ["robust"])
    curves = read_curves(paths["live"], ["capo", "sigmoid", "ipo"])
    assert set(curves) == {"capo", "sigmoid"}
    assert curves["capo"] == [(5.0, 0.5), (10.0, 0.625), (15.0, 0.75)]


def test_compare_stage_writes_report_json_and_charts(tmp_path):
    out = _run_compare(tmp_path)
    comparison = json.loads((out / "comparison.json").read_text())
    assert comparison["capo_vs_sigmoid"]["per_language"]["de"]["reward_accuracy"] == 0.6
    noise = comparison["noise"]["per_language"]
    assert noise["de"]["flipped_mean_w"] == pytest.approx(0.3)  # p0, p4
    assert noise["de"]["clean_mean_w"] == pytest.approx(0.95)  # p2, p6
    assert noise["hi"]["flipped_mean_w"] == pytest.approx(0.3)  # p5
    assert noise["hi"]["weight_ratio"] == pytest.approx(0.3 / ((1.0 + 1.1 + 0.8) / 3))
    md = (out / "comparison.md").read_text()
    assert "## capo against sigmoid" in md and "## capo against ipo" in md
    assert "| de | 0.600 | 0.500 | +20.0% |" in md
    assert "| hi | 0.300 | 0.000 | n/a |" in md
    assert "Noise analysis" in md and "![reward_accuracy_by_language]" in md
    names = sorted(p.name for p in (out / "figures").iterdir())
    assert names == [
        "generation_accuracy_by_language.png",
        "noise_weights.png",
        "reward_accuracy_by_language.png",
        "reward_accuracy_gain_by_language.png",
        "training_reward_accuracy.png",
    ]
    for png in (out / "figures").iterdir():
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    page = (out / "comparison.html").read_text()
    assert page.count("data:image/png;base64,") == 5 and "<link" not in page
    assert "http://" not in page and "https://" not in page  # renders offline


def test_compare_stage_unknown_candidate_is_a_capo_error(tmp_path):
    from capo_pipelines.compare import main

    _write_inputs(tmp_path)
    (tmp_path / "params.yaml").write_text("train: {losses: [capo, ipo]}\n")
    with pytest.raises(CapoError, match="'sigmoid' is not in params"):
        main(["--params", str(tmp_path / "params.yaml"), "--metrics", str(tmp_path / "metrics")])


def _chromium() -> str | None:
    return shutil.which("chromium") or shutil.which("chromium-browser")


# Injected by the test only: the report itself carries no script.
CHECK_SCRIPT = """<script>
window.addEventListener('load', () => {
  const imgs = [...document.images].map(i => ({alt: i.alt, w: i.naturalWidth, ok: i.complete}));
  const tables = [...document.querySelectorAll('table')].map(t => ({
    title: t.previousElementSibling ? t.previousElementSibling.textContent : '',
    rows: t.tBodies[0].rows.length, cols: t.tHead.rows[0].cells.length}));
  const pre = document.createElement('pre');
  pre.id = 'capo-check';
  pre.textContent = JSON.stringify({imgs, tables});
  document.body.appendChild(pre);
});
</script></body>"""


def _headless(chromium: str, tmp: Path, *args: str) -> subprocess.CompletedProcess:
    flags = [
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--no-first-run",
        "--mute-audio",
        f"--user-data-dir={tmp / 'profile'}",
    ]
    return subprocess.run(
        [chromium, *flags, *args], capture_output=True, text=True, timeout=120, check=False
    )


@pytest.mark.slow
@pytest.mark.skipif(_chromium() is None, reason="chromium not installed (scripts/setup-browser.sh)")
def test_html_report_renders_in_chromium(tmp_path):
    """Tables have their rows and every embedded chart decodes (naturalWidth > 0)."""
    out = _run_compare(tmp_path)
    page = (out / "comparison.html").read_text().replace("</body>", CHECK_SCRIPT)
    checked = tmp_path / "checked.html"
    checked.write_text(page)
    dom = _headless(
        _chromium(), tmp_path, "--virtual-time-budget=5000", "--dump-dom", checked.as_uri()
    )
    assert 'id="capo-check"' in dom.stdout, dom.stderr[-2000:]
    raw = dom.stdout.split('id="capo-check">', 1)[1].split("</pre>", 1)[0]
    result = json.loads(raw.replace("&quot;", '"').replace("&amp;", "&"))
    assert len(result["imgs"]) == 5
    assert all(i["ok"] and i["w"] > 100 for i in result["imgs"]), result["imgs"]
    rows = {t["title"]: t["rows"] for t in result["tables"]}
    assert rows["capo against sigmoid"] == len(LANGS) + 1  # languages + "all"
    assert rows["Reward accuracy of every loss"] == len(LANGS) + 1
    assert rows["Noise analysis: CAPO weights of flipped and clean pairs"] == 3  # de, hi, all
    shot = tmp_path / "shot.png"
    _headless(
        _chromium(),
        tmp_path,
        f"--screenshot={shot}",
        "--window-size=1200,2400",
        (out / "comparison.html").as_uri(),
    )
    import matplotlib.image

    pixels = matplotlib.image.imread(shot)
    assert pixels.shape[0] == 2400 and pixels.std() > 0.01  # drawn, not blank


def test_report_flags_a_degenerate_model_first():
    """A model that answers nothing is named at the top of the report, not buried in zeros."""
    from capo_pipelines.reporting.comparison_report import degenerate_lines, report_tables

    metrics = json.loads(json.dumps(METRICS))
    metrics["ipo"]["health"] = {"degenerate": True, "reasons": ["empty answers 100.0% > 2.0%"]}
    metrics["capo"]["health"] = {"degenerate": False, "reasons": []}
    lines = degenerate_lines(metrics)
    assert lines == [
        "WARNING: ipo is degenerate: empty answers 100.0% > 2.0%. Its reward accuracy says "
        "nothing about its answers."
    ]
    comparison = compare_losses(metrics, "capo", "sigmoid", 0.0)
    first = report_tables(comparison, metrics, "capo")[0]
    assert first.title == "Does every model still answer?"
    assert {row[0]: row[-1] for row in first.rows} == {
        "capo": "ok",
        "sigmoid": "ok",
        "ipo": "DEGENERATE",
    }
