"""Evaluation metrics on hand-made cases, the noise analysis, and the evaluate stage end to end."""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest
import torch

from capo.errors import CapoError
from capo_pipelines.data.contract import join_reference
from capo_pipelines.evaluation import (
    answer_matches,
    first_line,
    implicit_rewards,
    noise_weights,
    normalize_answer,
    relative_change,
    reward_accuracy,
    reward_margin,
    summarize,
)
from capo_pipelines.evaluation.evaluator import (
    metrics_document,
    plot_rows,
    policy_rewards,
    reward_frame,
)
from capo_pipelines.evaluation.metrics import generation_health
from capo_pipelines.params import load_params
from capo_pipelines.params.losses import write_loss_settings

from .conftest import toy_pairs


def test_implicit_rewards_accuracy_and_margin_by_hand():
    r_w, r_l = implicit_rewards(
        [-1.0, -2.0, -3.0], [-4.0, -1.0, -3.0], [-2.0, -2.0, -2.0], [-2.0, -2.0, -3.0], beta=0.5
    )
    np.testing.assert_allclose(r_w, [0.5, 0.0, -0.5])
    np.testing.assert_allclose(r_l, [-1.0, 0.5, 0.0])
    assert reward_accuracy(r_w, r_l) == pytest.approx(1 / 3)  # the tie (0 vs 0) is not a win
    assert reward_accuracy([0.0], [0.0]) == 0.0
    assert reward_margin(r_w, r_l) == pytest.approx((1.5 - 0.5 - 0.5) / 3)
    assert math.isnan(reward_accuracy([], []))
    assert math.isnan(reward_margin([], []))


@pytest.mark.parametrize(
    ("answer", "gold", "ok"),
    [
        ("Twenty-four.", "twenty four", True),
        ("  Mai\n", "Mai", True),
        ("MÄRZ!", "März", True),
        ("STRASSE", "Straße", True),  # casefold, not lower
        ("ＡＢＣ", "abc", True),  # NFKC folds full-width letters
        ("金曜日。", "金曜日", True),  # CJK full stop is punctuation
        ("«март»", "март", True),
        ("Mai", "Juni", False),
        ("", "Mai", False),
        ("anything", "", False),  # an empty gold answer matches nothing
        ("twenty-five", "twenty-four", False),
    ],
)
def test_answer_matches(answer, gold, ok):
    assert answer_matches(answer, gold) is ok


def test_normalize_and_first_line():
    assert normalize_answer(" Hello, World! ") == "helloworld"
    assert normalize_answer("ﬁve") == "five"  # NFKC ligature
    assert first_line("\n  Montag \nWelcher Tag?") == "Montag"
    assert first_line("   \n") == ""


@pytest.mark.parametrize(
    ("new", "base", "expected"),
    [
        (0.6, 0.5, 0.2),
        (0.4, 0.5, -0.2),
        (-0.25, -0.5, 0.5),  # relative to |base|: less negative is a gain
        (0.0, 0.0, 0.0),
        (0.3, 0.0, None),  # a zero baseline has no relative change
        (None, 0.5, None),
        (0.5, float("nan"), None),
    ],
)
def test_relative_change(new, base, expected):
    got = relative_change(new, base)
    assert got == (pytest.approx(expected) if expected is not None else None)


def _frame() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "id": list("abcde"),
            "language": ["de", "de", "de", "zh", "zh"],
            "reward_accuracy": [1.0, 0.0, 1.0, 1.0, 1.0],
            "generation_accuracy": [1.0, None, 0.0, None, None],
            "verifiable": [1, 0, 1, 0, 0],
        }
    )


def test_summarize_per_language_skips_nulls_and_counts():
    out = summarize(_frame(), ["reward_accuracy", "generation_accuracy"], sums=["verifiable"])
    assert out["overall"] == {
        "reward_accuracy": 0.8,
        "generation_accuracy": 0.5,
        "pairs": 5,
        "verifiable": 2,
    }
    assert out["per_language"]["de"]["reward_accuracy"] == pytest.approx(2 / 3)
    assert out["per_language"]["de"]["generation_accuracy"] == 0.5
    assert out["per_language"]["zh"] == {
        "reward_accuracy": 1.0,
        "generation_accuracy": None,
        "pairs": 2,
        "verifiable": 0,
    }
    json.dumps(out, allow_nan=False)  # JSON-safe: no NaN


def _pairs_with_ref() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "id": ["p1", "p2", "p3", "p4"],
            "language": ["en", "en", "hi", "hi"],
            "ref_chosen_logps": [-5.0, -5.0, -5.0, -5.0],
            "ref_rejected_logps": [-5.0, -5.0, -5.0, -5.0],
        }
    )


def test_reward_frame_and_metrics_document_by_hand():
    rewards = reward_frame(
        _pairs_with_ref(),
        np.array([-4.0, -6.0, -3.0, -5.0]),
        np.array([-5.0, -5.0, -7.0, -5.0]),
        beta=0.1,
    )
    np.testing.assert_allclose(rewards["reward_margin"], [0.1, -0.1, 0.4, 0.0])
    answers = pd.DataFrame(
        {
            "id": ["p1", "p3"],
            "generation_accuracy": [1.0, 0.0],
            "language_fidelity": [1.0, 0.0],
            "empty_rate": [0.0, 1.0],  # p3 answered nothing
        }
    )
    ref = pd.DataFrame(
        {
            "id": ["p1", "p3"],
            "language": ["en", "hi"],
            "answer": ["x", "y"],
            "generation_accuracy": [0.0, 0.0],
            "language_fidelity": [1.0, 0.0],
            "empty_rate": [0.0, 0.0],
        }
    )
    gold = pd.DataFrame(
        {"id": ["p1", "p3"], "language": ["en", "hi"], "gold_language_fidelity": [1.0, 1.0]}
    )
    doc = metrics_document(rewards, answers, ref, gold)
    assert doc["overall"]["reward_accuracy"] == 0.5
    assert doc["overall"]["reward_margin"] == pytest.approx(0.1)
    assert doc["overall"]["verifiable"] == 2
    assert doc["per_language"]["hi"]["reward_accuracy"] == 0.5
    assert doc["per_language"]["hi"]["generation_accuracy"] == 0.0
    assert doc["per_language"]["en"]["generation_accuracy"] == 1.0
    assert doc["per_language"]["hi"]["empty_rate"] == 1.0 and doc["overall"]["empty_rate"] == 0.5
    assert doc["reference"]["per_language"]["hi"] == {
        "generation_accuracy": 0.0,
        "language_fidelity": 0.0,
        "empty_rate": 0.0,
        "gold_language_fidelity": 1.0,
        "verifiable": 1,
    }
    rows = plot_rows(doc)
    assert [r["language"] for r in rows] == ["en", "hi", "all"]
    assert rows[-1]["reward_accuracy"] == 0.5 and rows[0]["reference_generation_accuracy"] == 0.0
    json.dumps(doc, allow_nan=False)


def test_generation_health_by_hand():
    doc = {
        "overall": {"generation_accuracy": 0.80, "language_fidelity": 0.97, "empty_rate": 0.01},
        "reference": {"overall": {"generation_accuracy": 0.90, "language_fidelity": 0.98}},
    }
    health = generation_health(doc, max_empty_rate=0.02, max_drop=0.05)
    assert health["generation_accuracy_drop"] == pytest.approx(0.10)
    assert health["language_fidelity_drop"] == pytest.approx(0.01)
    assert health["degenerate"] and len(health["reasons"]) == 1
    assert "generation_accuracy" in health["reasons"][0]
    doc["overall"].update(generation_accuracy=0.86, empty_rate=0.03)
    health = generation_health(doc, max_empty_rate=0.02, max_drop=0.05)
    assert health["degenerate"] and health["reasons"] == ["empty answers 3.0% > 2.0%"]
    doc["overall"]["empty_rate"] = 0.0
    assert not generation_health(doc, max_empty_rate=0.02, max_drop=0.05)["degenerate"]
    unknown = generation_health({"overall": {}}, max_empty_rate=0.02, max_drop=0.05)
    assert not unknown["degenerate"] and unknown["generation_accuracy_drop"] is None


def test_metrics_document_without_generation():
    rewards = reward_frame(_pairs_with_ref(), np.full(4, -4.0), np.full(4, -5.0), beta=1.0)
    doc = metrics_document(rewards, None)
    assert doc["overall"] == {"reward_accuracy": 1.0, "reward_margin": 1.0, "pairs": 4}
    assert "reference" not in doc


def test_join_reference_missing_id_is_a_capo_error():
    pairs = pd.DataFrame({"id": ["p1", "zz"], "language": ["en", "en"]})
    with pytest.raises(CapoError, match="1 pair ids"):
        join_reference(pairs, _pairs_with_ref())


def test_noise_weights_per_language():
    pairs = pd.DataFrame(
        {
            "id": ["a", "b", "c", "d", "e"],
            "language": ["de", "de", "de", "en", "en"],
            "label_flipped": [True, False, False, False, False],
        }
    )
    weights = pd.DataFrame({"id": ["e", "d", "c", "b", "a"], "w": [1.0, 0.5, 0.8, 1.2, 0.25]})
    out = noise_weights(pairs, weights)
    de = out["per_language"]["de"]
    assert de == {
        "flipped_pairs": 1,
        "clean_pairs": 2,
        "flipped_mean_w": 0.25,
        "clean_mean_w": pytest.approx(1.0),
        "weight_ratio": pytest.approx(0.25),
    }
    en = out["per_language"]["en"]
    assert en["flipped_pairs"] == 0 and en["flipped_mean_w"] is None and en["weight_ratio"] is None
    assert out["overall"]["clean_mean_w"] == pytest.approx((1.2 + 0.8 + 0.5 + 1.0) / 4)
    with pytest.raises(CapoError, match="no CAPO weight"):
        noise_weights(pairs, weights.iloc[1:])


def test_noise_analysis_of_a_trl_loss_candidate_is_none(tmp_path):
    """A model trained with a TRL loss writes null w (no CAPO weights): no analysis, no error."""
    from capo_pipelines.evaluation.noise import noise_analysis

    pairs = pd.DataFrame(
        {"id": ["a", "b"], "language": ["de", "de"], "label_flipped": [True, False]}
    )
    pairs.to_parquet(tmp_path / "train.parquet")
    weights = pd.DataFrame({"id": ["a", "b"], "margin": [0.1, 0.2], "w": [np.nan, np.nan]})
    weights.to_parquet(tmp_path / "w.parquet")
    assert noise_analysis(tmp_path / "train.parquet", tmp_path / "w.parquet") is None
    weights.assign(w=[0.5, 1.0]).to_parquet(tmp_path / "w.parquet")
    noise = noise_analysis(tmp_path / "train.parquet", tmp_path / "w.parquet")
    assert noise["overall"]["weight_ratio"] == pytest.approx(0.5)
    with pytest.raises(CapoError, match="lack columns"):
        noise_weights(pairs.drop(columns="label_flipped"), weights)


def _toy_frame(n: int = 12) -> pd.DataFrame:
    rows = toy_pairs(n)
    frame = pd.DataFrame(rows)
    frame["id"] = [f"t{i}" for i in range(n)]
    frame["language"] = ["en", "de"] * (n // 2)
    frame["gold"] = [r["chosen"].strip() if i % 3 else None for i, r in enumerate(rows)]
    return frame


def test_policy_equal_to_reference_has_zero_rewards(make_tiny_model, tiny_tokenizer):
    """Same log-prob function and tokenisation as the reference stage: r = 0 exactly."""
    from capo_pipelines.models.logps import reference_logps

    pairs = _toy_frame()
    model = make_tiny_model(seed=1)
    reference = reference_logps(model, tiny_tokenizer, pairs, batch_size=5, max_length=64)
    rewards = policy_rewards(
        model, tiny_tokenizer, pairs, reference.iloc[::-1], beta=0.1, batch_size=3, max_length=64
    )
    assert list(rewards["id"]) == list(pairs["id"])
    assert np.all(rewards["chosen_reward"] == 0) and np.all(rewards["rejected_reward"] == 0)
    assert reward_accuracy(rewards["chosen_reward"], rewards["rejected_reward"]) == 0.0
    other = policy_rewards(
        make_tiny_model(seed=2),
        tiny_tokenizer,
        pairs,
        reference,
        beta=0.1,
        batch_size=4,
        max_length=64,
    )
    assert np.all(other["reward_margin"] != 0)


def test_policy_rewards_with_injected_logps():
    pairs = _pairs_with_ref().assign(prompt="p", chosen="c", rejected="r")

    def fake(model, tokenizer, joined):
        return np.full(len(joined), -4.0), np.full(len(joined), -6.0)

    rewards = policy_rewards(None, None, pairs, _pairs_with_ref(), beta=0.5, logps=fake)
    np.testing.assert_allclose(rewards["reward_margin"], 1.0)


def test_greedy_answers_batched_equals_one_by_one(make_tiny_model, tiny_tokenizer):
    """Left padding and length-sorted batches change nothing: same answers as batch size 1."""
    from capo_pipelines.evaluation.generation import greedy_answers

    model = make_tiny_model(seed=3)
    prompts = ["Say red 1:", "Say blue", "Say a long green tree river stone 7:", "x"]
    batched = greedy_answers(model, tiny_tokenizer, prompts, batch_size=3, max_new_tokens=6)
    single = greedy_answers(model, tiny_tokenizer, prompts, batch_size=1, max_new_tokens=6)
    assert batched == single and all(isinstance(a, str) for a in batched)
    capped = greedy_answers(model, tiny_tokenizer, prompts, max_new_tokens=3, max_length=8)
    assert len(capped) == len(prompts)


def test_language_fidelity_uses_langid():
    from capo_pipelines.evaluation.generation import language_fidelity

    allowed = ("en", "de", "fr", "ja", "zh")
    texts = [
        "Guten Morgen, wie geht es dir heute?",
        "Good morning, how are you today?",
        "",
        "火曜日",
        "Bonjour, comment allez-vous aujourd'hui ?",
    ]
    got = language_fidelity(texts, ["de", "de", "de", "ja", "fr"], allowed)
    assert got.tolist() == [True, False, False, True, True]


@pytest.mark.slow
def test_evaluate_stage_writes_metrics_and_plots(tmp_path, make_tiny_model, tiny_tokenizer):
    """capo_pipelines.evaluate on a saved tiny model: metrics JSON per language, plot rows."""
    from capo_pipelines.evaluate import main
    from capo_pipelines.models.logps import reference_logps

    pairs = _toy_frame(10)
    model_dir, policy_dir = tmp_path / "models" / "capo", tmp_path / "models" / "policy"
    policy = make_tiny_model(seed=4)
    for path, model in ((policy_dir, policy), (model_dir, make_tiny_model(seed=5))):
        model.save_pretrained(path)
        tiny_tokenizer.save_pretrained(path)
    pairs.to_parquet(tmp_path / "test.parquet")
    with torch.no_grad():
        ref = reference_logps(policy, tiny_tokenizer, pairs, max_length=256)
    ref.to_parquet(tmp_path / "ref.parquet")
    (tmp_path / "params.yaml").write_text("evaluate: {max_new_tokens: 4, device: cpu}\n")
    out, plots = tmp_path / "metrics" / "capo.json", tmp_path / "plots" / "capo.json"
    settings = write_loss_settings("capo", load_params(tmp_path / "params.yaml"), tmp_path / "ls")
    args = [
        "--loss",
        "capo",
        "--settings",
        str(settings),
        "--params",
        str(tmp_path / "params.yaml"),
        "--model",
        str(model_dir),
        "--policy",
        str(policy_dir),
        "--pairs",
        str(tmp_path / "test.parquet"),
        "--reference",
        str(tmp_path / "ref.parquet"),
        "--out",
        str(out),
        "--plots",
        str(plots),
    ]
    main(args)
    doc = json.loads(out.read_text())
    assert set(doc["per_language"]) == {"en", "de"}
    assert doc["overall"]["pairs"] == 10 and doc["overall"]["verifiable"] == 6
    for key in ("reward_accuracy", "reward_margin", "generation_accuracy", "language_fidelity"):
        assert 0 <= doc["overall"][key] <= 1 or key == "reward_margin"
    assert doc["reference"]["overall"]["verifiable"] == 6
    health, overall = doc["health"], doc["overall"]
    assert 0 <= overall["empty_rate"] <= 1 and health["empty_rate"] == overall["empty_rate"]
    ref_acc = doc["reference"]["overall"]["generation_accuracy"]
    drop = ref_acc - overall["generation_accuracy"]
    assert health["generation_accuracy_drop"] == pytest.approx(drop)
    assert health["degenerate"] == bool(health["reasons"])
    rows = json.loads(plots.read_text())
    assert [r["language"] for r in rows] == ["de", "en", "all"]
    with pytest.raises(CapoError, match=r"unknown loss 'dpo'"):
        main([*args[:1], "dpo", *args[2:]])
    with pytest.raises(CapoError, match=r"loss 'hinge' is not in params train\.losses"):
        main([*args[:1], "hinge", *args[2:]])
    (tmp_path / "params.yaml").write_text("loss: {beta: 0.3}\nevaluate: {device: cpu}\n")
    main(args)  # beta comes from the settings file (0.1), not from params' loss.beta
    beta_of_file = json.loads(out.read_text())
    settings.write_text('{"beta": 0.3}\n')
    main(args)
    assert json.loads(out.read_text())["overall"]["reward_margin"] == pytest.approx(
        3 * beta_of_file["overall"]["reward_margin"]
    )


def test_reward_beta_follows_params(tmp_path):
    from capo_pipelines.params import ParamsError, load_params
    from capo_pipelines.params.losses import loss_settings, reward_beta

    path = tmp_path / "params.yaml"
    path.write_text(
        "loss: {beta: 0.2}\ntrain: {losses: [capo, ipo], loss_overrides: {ipo: {beta: 0.5}}}\n"
    )
    params = load_params(path)
    capo, ipo = (loss_settings(loss, params) for loss in ("capo", "ipo"))
    assert reward_beta(capo, params) == 0.2 and reward_beta(ipo, params) == 0.5
    path.write_text("evaluate: {beta: 0.05}\n")
    assert reward_beta(capo, load_params(path)) == 0.05
    path.write_text("evaluate: {max_tokens: 3}\n")
    with pytest.raises(ParamsError, match=r"evaluate\.max_tokens"):
        load_params(path)
