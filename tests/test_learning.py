"""The embedded default learns: the SFT'd tiny policy fits its training questions, answers
held-out ones, and preference training with the default settings keeps it answering.

Small sizes (three languages, a few hundred pairs), default model and training settings.
"""

from __future__ import annotations

import dataclasses

import pandas as pd
import pytest

from capo_pipelines.data.benchmark import demonstrations, generate_benchmark
from capo_pipelines.data.benchmark_tasks import number_answer
from capo_pipelines.evaluation.evaluator import generation_frame, metrics_document, policy_rewards
from capo_pipelines.evaluation.generation import greedy_answers
from capo_pipelines.evaluation.metrics import answer_matches, generation_health
from capo_pipelines.models.load import load_pretrained
from capo_pipelines.models.logps import reference_logps
from capo_pipelines.models.sft import prepare_policy
from capo_pipelines.models.training import train_loss
from capo_pipelines.params import BenchmarkParams, Params
from capo_pipelines.params.losses import loss_settings

pytestmark = pytest.mark.slow
LANGS = ("en", "de", "zh")


@pytest.fixture(scope="module")
def learned(tmp_path_factory):
    """The default tiny model after SFT on the benchmark's demonstrations (10 epochs)."""
    bench = BenchmarkParams(languages=LANGS, train_pairs=450, test_pairs=150)
    params = dataclasses.replace(
        Params(),
        ingest=dataclasses.replace(Params().ingest, languages=LANGS, benchmark=bench),
        policy=dataclasses.replace(Params().policy, max_length=64, sft_epochs=10),
    )
    rows = pd.DataFrame(generate_benchmark(bench, seed=0))
    demos = pd.DataFrame(demonstrations(bench, seed=0))
    policy_dir = tmp_path_factory.mktemp("learning") / "policy"
    train = rows[rows["split"] == "train"]
    model, tok = prepare_policy(params.policy, train, policy_dir, seed=0, demonstrations=demos)
    return params, rows, demos, policy_dir, model, tok


def test_policy_fits_its_training_questions_and_answers_held_out_ones(learned):
    """Greedy exact match >= 0.9 on training questions; held-out numbers >= 0.6."""
    _, _, demos, _, model, tok = learned
    answers = greedy_answers(model, tok, list(demos["prompt"]), batch_size=64, max_new_tokens=16)
    fit = sum(map(answer_matches, answers, demos["completion"])) / len(demos)
    assert fit >= 0.9, fit
    trained = set(demos["prompt"])
    held_out = [n for n in range(1000) if f"Write {n} in words." not in trained]
    got = greedy_answers(model, tok, [f"Write {n} in words." for n in held_out], batch_size=64)
    pairs = zip(got, held_out, strict=True)
    right = sum(answer_matches(a, number_answer(n, "en")) for a, n in pairs)
    assert right / len(held_out) >= 0.6, (right, len(held_out))


def _with_reference(model, tok, pairs: pd.DataFrame) -> pd.DataFrame:
    ref = reference_logps(model, tok, pairs, max_length=64)
    return pairs.merge(ref[["id", "ref_chosen_logps", "ref_rejected_logps"]], on="id")


@pytest.mark.parametrize("loss", ["capo", "sigmoid"])
def test_default_preference_training_keeps_answering(learned, loss, tmp_path):
    """No collapse to EOS: empty answers <= 2% and generation accuracy within 0.05 of the
    policy's, with the default train settings (learning rate, epochs, batch), on noisy pairs."""
    params, rows, _, policy_dir, model, tok = learned
    train = _with_reference(model, tok, rows[rows["split"] == "train"])
    test = _with_reference(model, tok, rows[rows["split"] == "test"])
    assert train["label_flipped"].any()  # the default noise is in the training pairs
    run = dataclasses.replace(params, train=dataclasses.replace(params.train, losses=(loss,)))
    train_loss(
        loss,
        run,
        policy_dir,
        train,
        None,
        out_dir=tmp_path / "m",
        checkpoint_dir=tmp_path / "c",
        settings=loss_settings(loss, run),
    )
    trained, trained_tok = load_pretrained(str(tmp_path / "m"))
    rewards = policy_rewards(trained, trained_tok, test, test, beta=params.loss.beta)

    def answers(m, t):
        return generation_frame(m, t, test, languages=LANGS, batch_size=64, max_new_tokens=16)

    doc = metrics_document(rewards, answers(trained, trained_tok), answers(model, tok))
    health = generation_health(doc, max_empty_rate=0.02, max_drop=0.05)
    assert not health["degenerate"], health
    assert doc["overall"]["empty_rate"] <= 0.02
    assert doc["overall"]["reward_accuracy"] > 0.6  # it learned the preference, too
