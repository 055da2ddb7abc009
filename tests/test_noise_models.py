"""The benchmark's noise models: exact rates, where the flips fall, what the scores know."""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
import pytest

from capo_pipelines.data.benchmark import (
    demonstrations,
    generate_benchmark,
    preference_questions,
    realized_noise,
)
from capo_pipelines.noise_study.trials import auc
from capo_pipelines.params import BenchmarkParams

BASE = BenchmarkParams(train_pairs=900, test_pairs=90, noise_by_language={})


def _train(params: BenchmarkParams, seed: int = 0) -> pd.DataFrame:
    frame = pd.DataFrame(generate_benchmark(params, seed))
    return frame[frame["split"] == "train"]


def _learnable(frame: pd.DataFrame) -> pd.DataFrame:
    return frame[frame["rejected_kind"] != "wrong_language"]


@pytest.mark.parametrize("model", ["uniform", "margin", "translation"])
def test_each_rate_model_corrupts_exactly_its_rate_per_language(model):
    params = dataclasses.replace(BASE, noise_model=model, noise=0.3)
    train = _train(params)
    for lang, rows in _learnable(train).groupby("language"):
        if model == "translation" and lang == "en":
            assert not rows["label_flipped"].any()  # the source language is not translated
            continue
        assert rows["label_flipped"].sum() == round(0.3 * len(rows)), lang
    assert not train[train["rejected_kind"] == "wrong_language"]["label_flipped"].any()
    assert (train["noise_kind"].notna() == train["label_flipped"]).all()


def test_uniform_is_unchanged_by_the_new_models():
    """The default model draws what it drew before: same ids as a fresh default generation."""
    rows = generate_benchmark(BenchmarkParams(train_pairs=180, test_pairs=90), 3)
    again = generate_benchmark(BenchmarkParams(train_pairs=180, test_pairs=90), 3)
    assert [r["id"] for r in rows] == [r["id"] for r in again]
    assert all(r["translation_confidence"] is None for r in rows)


def test_pairs_are_the_same_under_every_model_and_levels_nest():
    def unordered(frame: pd.DataFrame) -> list[tuple[str, ...]]:
        return sorted(
            (p, *sorted((c, r)))
            for p, c, r in zip(frame["prompt"], frame["chosen"], frame["rejected"], strict=True)
        )

    clean = unordered(_train(dataclasses.replace(BASE, noise=0.0)))
    for model in ("margin", "derived"):  # flips only swap: the same unordered pairs
        assert unordered(_train(dataclasses.replace(BASE, noise_model=model, noise=0.2))) == clean
    low = _train(dataclasses.replace(BASE, noise_model="margin", noise=0.2))
    high = _train(dataclasses.replace(BASE, noise_model="margin", noise=0.4))
    low_flipped = set(low.index[low["label_flipped"]])
    assert low_flipped <= set(high.index[high["label_flipped"]])


def test_margin_flips_fall_on_close_pairs_and_scores_stay_with_their_answers():
    params = dataclasses.replace(BASE, noise_model="margin", noise=0.2, score_noise=1.0)
    train = _learnable(_train(params))
    near = train[train["rejected_kind"] == "near_miss"]
    wrong = train[train["rejected_kind"] == "wrong"]
    assert near["label_flipped"].mean() > 3 * wrong["label_flipped"].mean()
    scored = train.dropna(subset=["score_chosen"])
    diff = scored["score_chosen"] - scored["score_rejected"]
    # a flipped pair's chosen is the worse answer, and it keeps its own (lower) score
    assert diff[scored["label_flipped"]].mean() < 0 < diff[~scored["label_flipped"]].mean()
    assert auc(diff, ~scored["label_flipped"]) > 0.9
    # uniform keeps positions: the scores know nothing about the noise
    uniform = _learnable(_train(dataclasses.replace(params, noise_model="uniform")))
    u = uniform.dropna(subset=["score_chosen"])
    assert 0.4 < auc(u["score_chosen"] - u["score_rejected"], ~u["label_flipped"]) < 0.6


def test_derived_labels_follow_the_noisy_annotator():
    params = dataclasses.replace(BASE, noise_model="derived", score_noise=2.0)
    rows = generate_benchmark(params, 0)
    train = _learnable(pd.DataFrame([r for r in rows if r["split"] == "train"]))
    scored = train.dropna(subset=["score_chosen"])
    assert (scored["score_chosen"] >= scored["score_rejected"]).all()  # label = higher score
    gold_chosen = scored["chosen"] == scored["gold"]
    assert (gold_chosen == ~scored["label_flipped"]).all()
    rate = realized_noise(rows)
    assert 0.05 < rate < 0.45
    quieter = realized_noise(generate_benchmark(dataclasses.replace(params, score_noise=0.5), 0))
    assert quieter < rate  # the flip rate comes from the annotator noise
    en_clean = dataclasses.replace(params, noise_by_language={"en": 0.0})
    en = _train(en_clean)
    assert not en[en["language"] == "en"]["label_flipped"].any()


def test_translation_confidence_separates_corrupted_translations_imperfectly():
    params = dataclasses.replace(BASE, noise_model="translation", noise=0.4, train_pairs=1800)
    train = _train(params)
    en = train[train["language"] == "en"]
    other = train[train["language"] != "en"]
    assert en["translation_confidence"].isna().all()
    assert other["translation_confidence"].between(0, 1).all()
    learn = _learnable(other)
    value = auc(learn["translation_confidence"], ~learn["label_flipped"])
    # d' = 1.5: AUC = Phi(1.5 / sqrt 2) = 0.856, within sampling error
    assert value == pytest.approx(0.856, abs=0.04)


def test_disjoint_sft_shares_no_question_with_the_preference_pairs():
    params = dataclasses.replace(BASE, sft_questions="disjoint")
    asked = preference_questions(params, 0)
    demos = demonstrations(params, 0)
    full = demonstrations(BASE, 0)
    prompts = {r["prompt"] for r in demos}
    pair_prompts = set(_train(params)["prompt"])
    assert asked and demos and not prompts & pair_prompts
    assert len(demos) < len(full)
    half = demonstrations(dataclasses.replace(params, sft_share=0.5), 0)
    assert 0.3 * len(demos) < len(half) < 0.7 * len(demos)


def test_auc_by_hand():
    assert auc([3, 2, 1, 0], [True, True, False, False]) == 1.0
    assert auc([0, 1], [True, False]) == 0.0
    assert auc([1, 1, 0], [True, False, False]) == pytest.approx(0.75)  # one tie counts half
    assert auc([np.nan, 1.0], [True, False]) is None
    with pytest.raises(ValueError, match="noise_model"):
        BenchmarkParams(noise_model="bursty")


def test_translation_confidence_reaches_the_validated_pairs(tmp_path):
    """The benchmark's translation_confidence survives ingest's row checks and validation,
    so train@capo's q_t sees it (ingest used to drop the column: every value was null)."""
    from capo_pipelines.data import run_ingest
    from capo_pipelines.params import IngestParams, ValidateParams
    from capo_pipelines.validation.validator import validate_pairs

    bench = dataclasses.replace(BASE, noise_model="translation", noise=0.4)
    run_ingest(IngestParams(benchmark=bench), seed=0, out_dir=tmp_path)
    train = pd.read_parquet(tmp_path / "train.parquet")
    run = validate_pairs(train, ValidateParams())
    accepted = run.accepted
    other = accepted[accepted["language"] != "en"]
    assert len(other) > 100 and other["translation_confidence"].between(0, 1).all()
    assert accepted[accepted["language"] == "en"]["translation_confidence"].isna().all()


def test_the_validation_report_summarises_translation_confidence_per_language(tmp_path):
    from capo_pipelines.data import run_ingest
    from capo_pipelines.params import IngestParams, ValidateParams
    from capo_pipelines.validation.validator import translation_summary, validate_pairs

    bench = dataclasses.replace(BASE, noise_model="translation", noise=0.4)
    run_ingest(IngestParams(benchmark=bench), seed=0, out_dir=tmp_path)
    train = pd.read_parquet(tmp_path / "train.parquet")
    run = validate_pairs(train, ValidateParams())
    summary = run.metrics()["translation_confidence"]
    assert "en" not in summary and set(summary) == set(train["language"]) - {"en"}
    de = train[train["language"] == "de"]["translation_confidence"]
    assert summary["de"]["pairs"] == len(de)
    assert summary["de"]["q50"] == round(float(de.quantile(0.5)), 4)
    assert 0 <= summary["de"]["q10"] <= summary["de"]["q50"] <= summary["de"]["q90"] <= 1
    # a quarantined row counts toward its language's share
    moved = run.accepted[run.accepted["language"] == "de"].head(3)
    rest = run.accepted.drop(moved.index)
    again = translation_summary(rest, pd.concat([run.quarantined, moved]))
    assert again["de"]["quarantined"] == summary["de"]["quarantined"] + 3
    assert translation_summary(train.drop(columns="translation_confidence"), train[:0]) == {}
