"""The noise study: intervals and paired differences by hand, and a small study end to end."""

from __future__ import annotations

import json
import math

import pytest
import yaml

from capo_pipelines.noise_study import mean_ci, paired_ci, summarize_study
from capo_pipelines.noise_study.writeup import study_markdown
from capo_pipelines.params import Params, StudyParams, StudyVariant, load_params


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


def _run(variant: str, seed: int, acc: float, de: float, regime: str = "margin-0.4") -> dict:
    return {
        "variant": variant,
        "regime": regime,
        "seed": seed,
        "reward_accuracy": acc,
        "per_language": {"de": {"reward_accuracy": de}},
    }


REGIMES = [
    {"name": "margin-0.4", "noise_model": "margin", "noise": 0.4, "score_noise": 1.0},
    {"name": "clean", "noise_model": "uniform", "noise": 0.0, "score_noise": 1.0},
]


def test_paired_difference_matches_seed_by_seed_by_hand():
    capo = [_run("capo", s, a, d) for s, a, d in ((0, 0.90, 0.8), (1, 0.86, 0.7), (2, 0.80, 0.9))]
    dpo = [_run("sigmoid", s, a, d) for s, a, d in ((2, 0.79, 0.8), (0, 0.88, 0.8), (1, 0.83, 0.6))]
    est = paired_ci(capo, dpo, "reward_accuracy")  # diffs 0.02, 0.03, 0.01 (matched by seed)
    half = 4.302653 * 0.01 / math.sqrt(3)
    assert est.mean == pytest.approx(0.02) and est.high == pytest.approx(0.02 + half)
    assert not est.excludes_zero()  # 3 seeds: t(0.975, 2) is 4.3, the interval is wide
    de = paired_ci(capo, dpo, "reward_accuracy", "de")  # diffs 0.0, 0.1, 0.1
    assert de.mean == pytest.approx(0.2 / 3) and not de.excludes_zero()
    result = {"runs": capo + dpo, "regimes": REGIMES[:1], "settings": {}}
    summary = summarize_study(result, StudyParams())
    paired = summary["paired"]["margin-0.4"]["capo"]
    assert paired["reward_accuracy"]["mean"] == pytest.approx(0.02)
    assert paired["per_language"]["de"]["mean"] == pytest.approx(0.2 / 3)
    means = summary["means"]["margin-0.4"]["sigmoid"]["reward_accuracy"]
    assert means["mean"] == pytest.approx((0.79 + 0.88 + 0.83) / 3)
    text = study_markdown(result, summary, None)
    assert "| capo - sigmoid | +0.020 [-0.005, +0.045] |" in text
    assert text.index("Study v2's criteria") < text.index("Test reward accuracy")
    with_protocol = study_markdown(result, {**summary, "protocol": "Written before the run."}, None)
    assert with_protocol.index("Written before the run.") < with_protocol.index("Verdict")


def test_verdicts_follow_the_pre_registered_criteria():
    """Beats DPO and q-only: helps; beats DPO only: score-weighted DPO; control: no harm."""
    seeds = range(5)
    dpo = [_run("sigmoid", s, 0.80 + 0.01 * s, 0.8) for s in seeds]
    capo = [_run("capo", s, 0.85 + 0.01 * s + 0.002 * (s % 2), 0.8) for s in seeds]
    q_low = [_run("capo-q", s, 0.82 + 0.01 * s, 0.8) for s in seeds]
    q_high = [_run("capo-q", s, 0.85 + 0.01 * s + 0.001 * (s % 3), 0.8) for s in seeds]
    clean_dpo = [_run("sigmoid", s, 0.90 + 0.01 * s, 0.8, "clean") for s in seeds]
    clean_capo = [_run("capo", s, 0.89 + 0.01 * s + 0.001 * (s % 2), 0.8, "clean") for s in seeds]
    clean = [*clean_dpo, *clean_capo]
    helps = summarize_study(
        {"runs": [*dpo, *capo, *q_low, *clean], "regimes": REGIMES}, StudyParams()
    )["verdicts"]
    assert helps["margin-0.4"]["beats_baseline"] and helps["margin-0.4"]["beats_ablation"]
    assert helps["margin-0.4"]["text"] == "capo helps, beyond its capo-q ablation"
    assert helps["clean"]["control"] and not helps["clean"]["no_harm"]  # -0.01 < -0.005
    only = summarize_study({"runs": [*dpo, *capo, *q_high], "regimes": REGIMES[:1]}, StudyParams())
    verdict = only["verdicts"]["margin-0.4"]
    assert verdict["beats_baseline"] and not verdict["beats_ablation"]
    assert "score-weighted DPO" in verdict["text"]


def test_study_params_are_checked():
    with pytest.raises(ValueError, match="include 'sigmoid'"):
        StudyParams(variants=(StudyVariant("capo", "capo"),))
    with pytest.raises(ValueError, match="unknown settings"):
        StudyVariant("x", "capo", grid={"lr": (1.0,)})
    assert load_params("params.yaml").study.baseline == "sigmoid"
    base = StudyVariant("sigmoid", "sigmoid", grid={"learning_rate": (5e-5, 1e-4)})
    capo = StudyVariant("capo", "capo", grid={"gamma": (1.0, 2.0)})
    ok = StudyParams(variants=(base, capo), seeds=(0, 1), tune_seed=2, budget=2)
    assert ok.tune_seed not in ok.seeds
    with pytest.raises(ValueError, match="tune_seed: 1 is also a test seed"):
        StudyParams(variants=(base, capo), seeds=(0, 1), tune_seed=1, budget=2)
    with pytest.raises(ValueError, match="'capo' tunes 2 points, the budget is 6"):
        StudyParams(variants=(base, capo), seeds=(0, 1), tune_seed=2)
    with pytest.raises(ValueError, match="tunes only"):  # stage A: shared training knobs only
        StudyParams(variants=(StudyVariant("sigmoid", "sigmoid", grid={"beta": (0.1,)}),))
    with pytest.raises(ValueError, match=r"grid\.learning_rate\[0\]: must be > 0"):
        StudyVariant("x", "sigmoid", grid={"learning_rate": (0.0,)})
    with pytest.raises(ValueError, match="a grid or points, not both"):
        StudyVariant("x", "capo", grid={"gamma": (1.0,)}, points=({"gamma": 2.0},))
    with pytest.raises(ValueError, match="unknown regimes"):
        StudyParams(variants=(StudyVariant("sigmoid", "sigmoid", regimes=("nowhere",)),))


def test_corrected_comparisons_by_hand():
    """CAPO against two methods in one regime: Bonferroni level 1 - 0.05/2, Student-t by hand."""
    import math

    from scipy import stats

    from capo_pipelines.noise_study.writeup import _comparisons

    capo_acc = [0.80, 0.82, 0.81, 0.83, 0.79]
    dpo_acc = [0.70, 0.71, 0.73, 0.70, 0.72]
    q_acc = [0.85, 0.86, 0.84, 0.88, 0.86]  # above CAPO: CAPO does not "help"

    def runs(name, accs):
        return [
            {"variant": name, "regime": "r", "seed": s, "reward_accuracy": a, "reward_margin": a}
            for s, a in enumerate(accs)
        ]

    result = {"runs": runs("capo", capo_acc) + runs("sigmoid", dpo_acc) + runs("capo-q", q_acc)}
    study = StudyParams(
        variants=(
            StudyVariant("sigmoid", "sigmoid"),
            StudyVariant("capo", "capo"),
            StudyVariant("capo-q", "capo"),
        ),
    )
    got = _comparisons(result, study, "r")
    assert got["comparisons"] == 2 and got["level"] == pytest.approx(0.975)
    diffs = [c - d for c, d in zip(capo_acc, dpo_acc, strict=True)]
    mean = sum(diffs) / 5
    sd = math.sqrt(sum((d - mean) ** 2 for d in diffs) / 4)
    half = stats.t.ppf(1 - 0.025 / 2, 4) * sd / math.sqrt(5)
    est = got["vs"]["reward_accuracy"]["sigmoid"]
    assert est["mean"] == pytest.approx(mean) and est["low"] == pytest.approx(mean - half)
    assert got["beats_baseline"] and got["beaten_by"] == ["capo-q"] and not got["helps"]
    assert "capo-q beat(s) capo" in got["text"]


@pytest.mark.slow
def test_a_small_study_end_to_end(tmp_path, monkeypatch, capfd):
    """Two seeds, two regimes, DPO, a tuned CAPO and the oracle on a tiny model, on Dask."""
    from capo_pipelines.study import main

    monkeypatch.delenv("TQDM_DISABLE", raising=False)  # the workers' bars as a user's run has them

    raw = {
        "ingest": {"benchmark": {"train_pairs": 90, "test_pairs": 45, "max_number": 99}},
        "policy": {"hidden_size": 32, "num_layers": 1, "num_heads": 2},
        "evaluate": {"max_new_tokens": 4},
        "study": {
            "variants": [
                {"name": "sigmoid", "loss": "sigmoid", "grid": {"learning_rate": [5e-5, 1e-4]}},
                {"name": "capo", "loss": "capo", "grid": {"direction": ["down", "up"]}},
                {"name": "capo-q", "loss": "capo", "settings": {"gamma": 0.0}},
                {"name": "oracle", "loss": "sigmoid", "clean_only": True},
            ],
            "regimes": [
                {"name": "clean", "noise_model": "uniform", "noise": 0.0},
                {"name": "margin-0.4", "noise_model": "margin", "noise": 0.4},
            ],
            "seeds": [0, 1],
            "tune_seed": 2,
            "budget": 2,
            "validation_pairs": 45,
            "sft_epochs": 0.5,
            "workers": 2,
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
            "--work-dir",
            str(tmp_path / "work"),
        ]
    )
    # the study's one bar is the only one: no trial prints bars or trainer dicts (the
    # workers' stderr is this process's, captured at the file descriptor)
    err = capfd.readouterr().err
    for per_trial in ("train dataset", "log-probs", "generation", "Loading weights", "'loss'"):
        assert per_trial not in err, per_trial
    assert "Task run 'capo/margin-0.4/seed-1/test'" in err  # Prefect's line per trial remains
    result = json.loads((out / "noise_study.json").read_text())
    keys = {(r["variant"], r["regime"], r["seed"]) for r in result["runs"]}
    variants = ("sigmoid", "capo", "capo-q")
    expected = {(v, g, s) for v in variants for g in ("clean", "margin-0.4") for s in (0, 1)}
    assert keys == expected | {("oracle", "margin-0.4", s) for s in (0, 1)}
    for run in result["runs"]:
        for key in ("reward_accuracy", "reward_margin", "empty_rate", "generation_accuracy"):
            assert run[key] is not None
        assert {"noise_model", "noise", "seed", "variant"} <= set(run)
        assert set(run["per_language"]) == set(Params().ingest.benchmark.languages)
        oracle = run["variant"] == "oracle"
        assert (run["train_pairs"] < 90) == oracle
    stage_a = [t for t in result["tuning"] if t["stage"] == "A"]
    assert {t["variant"] for t in stage_a} == {"sigmoid"} and len(stage_a) == 4  # 2 x 2 regimes
    assert {t["seed"] for t in result["tuning"]} == {2}  # the tuning seed, never a test seed
    shared = result["shared"]
    for regime in ("clean", "margin-0.4"):
        assert shared[regime] == result["settings"][regime]["sigmoid"]
        assert set(shared[regime]) == {"learning_rate"}
        assert result["settings"][regime]["capo-q"] == shared[regime]  # untuned: the shared
    tuned = [t["settings"] for t in result["tuning"] if t["variant"] == "capo"]
    assert tuned == [
        {**shared[r], "direction": d} for r in ("clean", "margin-0.4") for d in ("down", "up")
    ]  # stage B, at stage A's choice
    steps = {(r["variant"], r["regime"], r["seed"]): r["steps"] for r in result["runs"]}
    for s in (0, 1):  # the oracle trains on fewer pairs but as many steps as DPO
        assert steps[("oracle", "margin-0.4", s)] == steps[("sigmoid", "margin-0.4", s)]
    corrected = result["summary"]["verdicts"]["margin-0.4"]["corrected"]
    assert corrected["correction"] == "bonferroni" and corrected["comparisons"] == 2
    assert set(corrected["vs"]["reward_margin"]) == {"sigmoid", "capo-q"}
    assert {t["split"] for t in result["tuning"]} == {"validation"}
    for regime in ("clean", "margin-0.4"):
        assert result["settings"][regime]["capo"] in tuned
    policy = next(p for p in result["policies"] if p["seed"] == 0)
    signals = policy["regimes"]["margin-0.4"]["signal_auc"]
    assert signals["score_difference"] > 0.8  # margin noise: the scores know
    assert 0 <= signals["reference_preference"] <= 1
    tuning = next(p for p in result["policies"] if p["seed"] == 2)  # the tuning seed's
    assert "full_sft" in tuning and "reference_preference" in tuning["full_sft"]["signal_auc"]
    assert "margin-0.4" in result["summary"]["verdicts"]
    text = (out / "noise_study.md").read_text()
    assert "capo - sigmoid" in text and "![" in text and "Bonferroni" in text
    assert (out / "noise_study.png").read_bytes()[:4] == b"\x89PNG"


def test_noise_weights_of_a_trl_loss_model_have_no_means_but_a_margin_auc():
    import pandas as pd

    from capo_pipelines.noise_study.trials import _noise_weights

    pairs = pd.DataFrame(
        {
            "id": ["a", "b", "c"],
            "label_flipped": [True, False, False],
            "rejected_kind": ["flip", "flip", "flip"],
        }
    )
    weights = pd.DataFrame({"id": ["a", "b", "c"], "margin": [-1.0, 1.0, 2.0], "w": [None] * 3})
    got = _noise_weights(pairs, weights.astype({"w": float}))
    assert got == {"noisy_mean_w": None, "clean_mean_w": None, "margin_auc": 1.0}
