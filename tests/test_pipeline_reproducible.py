"""Two runs from nothing give the same bytes: equal dvc.lock md5s for every data and model
output, so DVC never sees a change where there is none.

Two fresh copies of the repository (different absolute paths, different Python hash seeds)
each run `dvc repro train` on a tiny profile: ingest, validate (with its Data Docs), policy,
reference and training. dvclive's metrics.json is left out on purpose: it records the
training runtime, a field that says it is a time.
"""

from __future__ import annotations

import subprocess

import pytest
import yaml

from tests.conftest import GIT_ENV, copy_worktree, dvc_bin

pytestmark = pytest.mark.slow

TINY = [
    "ingest.benchmark.train_pairs=90",
    "ingest.benchmark.test_pairs=45",
    "policy.hidden_size=32",
    "policy.num_layers=1",
    "policy.num_heads=2",
    "policy.vocab_size=300",
    "policy.sft_epochs=1.0",
    "train.losses=[capo]",
    "train.max_steps=2",
    "train.eval_steps=1",  # eval entries (with eval_runtime) in models/<loss>/log_history.json
]
TIMED = "metrics.json"  # dvclive/train/<loss>/metrics.json: train_runtime and throughput


def _run_from_nothing(path) -> dict[str, str]:
    from dvc.utils.hydra import apply_overrides

    repo = copy_worktree(path)
    apply_overrides(repo / "params.yaml", TINY)
    proc = subprocess.run(
        [dvc_bin(), "repro", "train"], cwd=repo, env=GIT_ENV, capture_output=True, text=True
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    lock = yaml.safe_load((repo / "dvc.lock").read_text(encoding="utf-8"))
    return {
        out["path"]: out["md5"]
        for stage in lock["stages"].values()
        for out in stage.get("outs", [])
        if not (out["path"].startswith("dvclive/") and out["path"].endswith(TIMED))
    }


def test_two_runs_from_nothing_write_identical_outputs(tmp_path):
    first = _run_from_nothing(tmp_path / "one")
    second = _run_from_nothing(tmp_path / "two")
    for path in ("data/pairs/train.parquet", "reports/data_docs", "models/policy", "models/capo"):
        assert path in first
    assert {p for p in first if first[p] != second.get(p)} == set()
    assert first == second
