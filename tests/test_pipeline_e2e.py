"""The whole default pipeline, end to end, in a temporary git copy of this repository.

One run, shared by the tests below: the Prefect flow (on the real test server) runs every
DVC stage of dvc.yaml with a reduced params profile (fewer pairs, a smaller model, two
losses), applied with DVC's own `-S` override machinery. The tests then check that every
output exists and agrees with the others, that DVC considers the result exactly what
`dvc repro` would leave, and that a second run does no stage work.
"""

from __future__ import annotations

import json
import os
import subprocess

import pandas as pd
import pytest

from tests.conftest import GIT_ENV as ENV
from tests.conftest import copy_worktree, dvc_bin

pytestmark = pytest.mark.slow

# The reduced profile: the same stages and code paths, minutes less work.
REDUCED = [
    "ingest.benchmark.train_pairs=360",
    "ingest.benchmark.test_pairs=120",
    "ingest.benchmark.max_number=99",  # few SFT demonstrations (9 languages x ~70 numbers)
    "policy.hidden_size=64",
    "policy.num_layers=2",
    "policy.vocab_size=800",
    "policy.sft_epochs=1.0",
    "train.losses=[capo,sigmoid]",
    "train.max_steps=6",
    "train.save_steps=3",
    "evaluate.max_new_tokens=6",
    "evaluate.max_empty_rate=1.0",  # a model this small may not answer: the gate must let it
    "evaluate.max_generation_drop=1.0",
    "register.min_reward_accuracy=0.0",
    "register.language_floor=0.0",
    "register.min_gain_over_baseline=-1.0",
]


@pytest.fixture(scope="module")
def pipeline_run(tmp_path_factory, prefect_server):
    from dvc.utils.hydra import apply_overrides

    from capo_pipelines.flows import capo_pipeline

    repo = copy_worktree(tmp_path_factory.mktemp("pipeline"))
    apply_overrides(repo / "params.yaml", REDUCED)
    old_path = os.environ["PATH"]
    os.environ["PATH"] = ENV["PATH"]  # stages call `python -m capo_pipelines.<stage>`
    try:
        first = capo_pipeline(repo=str(repo))
        second = capo_pipeline(repo=str(repo))
    finally:
        os.environ["PATH"] = old_path
    return repo, first, second


def test_every_stage_ran_once_and_then_was_up_to_date(pipeline_run):
    repo, first, second = pipeline_run
    assert all(r.ran for r in first), [r.stage for r in first if not r.ran]
    assert [r.stage for r in second if r.ran] == []
    status = subprocess.run(
        [dvc_bin(), "status", "dvc.yaml", "--json"],  # the default pipeline, not studies/
        cwd=repo,
        capture_output=True,
        text=True,
        env=ENV,
        check=True,
    )
    assert json.loads(status.stdout) == {}
    stages = {r.stage for r in first}
    for stage in ("ingest", "validate", "policy", "reference", "train@capo", "train@sigmoid"):
        assert stage in stages


def test_data_counts_reconcile_across_stages(pipeline_run):
    repo, _, _ = pipeline_run
    report = json.loads((repo / "data/pairs/ingest_report.json").read_text())
    pairs = {s: pd.read_parquet(repo / f"data/pairs/{s}.parquet") for s in ("train", "test")}
    valid = {s: pd.read_parquet(repo / f"data/validated/{s}.parquet") for s in ("train", "test")}
    vq = pd.read_parquet(repo / "data/validated/quarantine.parquet")
    assert sum(len(d) for d in pairs.values()) == sum(len(d) for d in valid.values()) + len(vq)
    assert report["accepted"] == sum(len(d) for d in pairs.values())
    ref = pd.read_parquet(repo / "data/reference/train.parquet")
    assert set(ref["id"]) == set(valid["train"]["id"])
    assert set(valid["train"]["language"]) >= {"en", "de", "hi", "ar", "zh", "ru"}
    assert valid["train"]["rejected_kind"].notna().all()  # benchmark columns survive ingest


def test_models_and_metrics_agree(pipeline_run):
    repo, _, _ = pipeline_run
    for loss in ("capo", "sigmoid"):
        assert any((repo / "models" / loss).glob("*.safetensors"))
        metrics = json.loads((repo / "metrics" / f"{loss}.json").read_text())
        langs = set(metrics["per_language"])
        test = pd.read_parquet(repo / "data/validated/test.parquet")
        assert langs == set(test["language"])
        assert 0.0 <= metrics["overall"]["reward_accuracy"] <= 1.0
    capo = json.loads((repo / "metrics/capo.json").read_text())
    sigmoid = json.loads((repo / "metrics/sigmoid.json").read_text())
    comparison = json.loads((repo / "reports/comparison.json").read_text())
    overall = comparison["capo_vs_sigmoid"]["overall"]
    assert overall["reward_accuracy"] == capo["overall"]["reward_accuracy"]
    assert overall["baseline_reward_accuracy"] == sigmoid["overall"]["reward_accuracy"]
    train = pd.read_parquet(repo / "data/validated/train.parquet")
    weights = pd.read_parquet(repo / "models/capo/pair_weights.parquet")
    assert set(weights["id"]) == set(train["id"])
    flipped = int(train["label_flipped"].sum())
    noise = comparison["noise"]
    assert noise["overall"]["flipped_pairs"] == flipped
    assert sum(v["flipped_pairs"] for v in noise["per_language"].values()) == flipped
    assert "capo against the baselines" in (repo / "reports/comparison.md").read_text()
    card = (repo / "models/registry/capo-policy/README.md").read_text()
    assert f"Overall reward accuracy: {capo['overall']['reward_accuracy']:.4f}" in card
    assert any((repo / "models/registry/capo-policy").glob("*.safetensors"))
