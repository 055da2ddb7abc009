"""The noise study: intervals and paired differences by hand, and a small study end to end."""

from __future__ import annotations

import json
import math

import pytest
import yaml

from capo.params import Params, StudyParams, StudyVariant, load_params
from capo.study import mean_ci, paired_ci, summarize_study
from capo.study.report import study_markdown


def test_mean_ci_by_hand():
    est = mean_ci([0.80, 0.84, 0.88])
    # mean 0.84, sd 0.04, t(0.975, 2) = 4.302653, half width 4.302653 * 0.04 / sqrt(3)
    half = 4.302653 * 0.04 / math.sqrt(3)
    assert est.mean == pytest.approx(0.84)
    assert (est.low, est.high) == (pytest.approx(0.84 - half), pytest.approx(0.84 + half))
    assert est.n == 3 and est.excludes_zero()
    single = mean_ci([0.5])
    assert (single.mean, single.low, single.high) == (0.5, None, None)
    assert mean_ci([float("nan")]).n == 0


def _run(loss: str, seed: int, acc: float, de: float) -> dict:
    return {
        "loss": loss,
        "noise": 0.2,
        "seed": seed,
        "reward_accuracy": acc,
        "per_language": {"de": {"reward_accuracy": de}},
    }


def test_paired_difference_matches_seed_by_seed_by_hand():
    capo = [_run("capo", s, a, d) for s, a, d in ((0, 0.90, 0.8), (1, 0.86, 0.7), (2, 0.80, 0.9))]
    dpo = [_run("sigmoid", s, a, d) for s, a, d in ((2, 0.79, 0.8), (0, 0.88, 0.8), (1, 0.83, 0.6))]
    est = paired_ci(capo, dpo, "reward_accuracy")  # diffs 0.02, 0.03, 0.01 (matched by seed)
    half = 4.302653 * 0.01 / math.sqrt(3)
    assert est.mean == pytest.approx(0.02) and est.high == pytest.approx(0.02 + half)
    assert not est.excludes_zero()  # 3 seeds: t(0.975, 2) is 4.3, the interval is wide
    de = paired_ci(capo, dpo, "reward_accuracy", "de")  # diffs 0.0, 0.1, 0.1
    assert de.mean == pytest.approx(0.2 / 3) and not de.excludes_zero()
    summary = summarize_study({"runs": capo + dpo}, "sigmoid")
    paired = summary["paired"]["capo"]["0.2"]
    assert paired["reward_accuracy"]["mean"] == pytest.approx(0.02)
    assert paired["per_language"]["de"]["mean"] == pytest.approx(0.2 / 3)
    means = summary["means"]["sigmoid"]["0.2"]["reward_accuracy"]
    assert means["mean"] == pytest.approx((0.79 + 0.88 + 0.83) / 3)
    text = study_markdown({"runs": capo + dpo, "settings": {}}, summary, "capo", None)
    assert "| capo - sigmoid | +0.020 [-0.005, +0.045] |" in text


def test_study_params_are_checked():
    with pytest.raises(ValueError, match="include 'sigmoid'"):
        StudyParams(variants=(StudyVariant("capo", "capo"),))
    with pytest.raises(ValueError, match="unknown settings"):
        StudyVariant("x", "capo", grid={"lr": (1.0,)})
    assert load_params("params.yaml").study.baseline == "sigmoid"


@pytest.mark.slow
def test_a_small_study_end_to_end(tmp_path):
    """Two seeds, two noise levels, DPO and a tuned CAPO, on a tiny model: records and report."""
    from pipelines.study import main

    raw = {
        "ingest": {"benchmark": {"train_pairs": 90, "test_pairs": 45, "max_number": 99}},
        "policy": {"hidden_size": 32, "num_layers": 1, "num_heads": 2, "sft_epochs": 0.5},
        "evaluate": {"max_new_tokens": 4},
        "study": {
            "variants": [
                {"name": "sigmoid", "loss": "sigmoid"},
                {"name": "capo", "loss": "capo", "grid": {"gamma": [0.5, 2.0]}},
            ],
            "noise": [0.0, 0.4],
            "seeds": [0, 1],
            "validation_pairs": 45,
        },
    }
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(raw))
    out = tmp_path / "reports"
    main(
        [
            "--params",
            str(tmp_path / "params.yaml"),
            "--out-json",
            str(out / "noise_study.json"),
            "--out-md",
            str(out / "noise_study.md"),
            "--figure",
            str(out / "noise_study.png"),
        ]
    )
    result = json.loads((out / "noise_study.json").read_text())
    keys = {(r["loss"], r["noise"], r["seed"]) for r in result["runs"]}
    assert keys == {(x, n, s) for x in ("sigmoid", "capo") for n in (0.0, 0.4) for s in (0, 1)}
    for run in result["runs"]:
        for key in ("reward_accuracy", "reward_margin", "empty_rate", "generation_accuracy"):
            assert run[key] is not None
        assert set(run["per_language"]) == set(Params().ingest.benchmark.languages)
    assert [t["settings"] for t in result["tuning"] if t["loss"] == "capo"] == [
        {"gamma": 0.5},
        {"gamma": 2.0},
    ]
    assert all(t["noise"] == 0.2 for t in result["tuning"])  # tuned on validation at 0.2
    assert result["settings"]["capo"] in ({"gamma": 0.5}, {"gamma": 2.0})
    text = (out / "noise_study.md").read_text()
    assert "capo - sigmoid" in text and "![" in text
    assert (out / "noise_study.png").read_bytes()[:4] == b"\x89PNG"
