"""dvc.yaml declares exactly the params each train/evaluate stage reads, key by key.

A `train:` or `loss:` key that a stage reads but dvc.yaml does not list would leave the stage
stale when the key changes; a whole section listed instead would rerun every loss for any
change. `loss:` reaches the train stages only through the loss_settings stage's files (one per
loss, exactly what it reads), so the train stages list no `loss:` key and loss_settings lists
them all. These checks fail when a new key is added to the typed schema and not to dvc.yaml.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
from dvc.repo import Repo

from capo_pipelines.params import load_params
from capo_pipelines.params.train_schema import LossParams, TrainParams

ROOT = Path(__file__).resolve().parents[1]
# Read by no train stage: the matrix itself and the overrides (they reach it in its settings file).
NOT_TRAINING = {"train.losses", "train.loss_overrides"}


@pytest.fixture(scope="module")
def stage_params() -> dict[str, set[str]]:
    with Repo(str(ROOT)) as repo:
        root_file = Path(repo.root_dir) / "dvc.yaml"
        return {
            stage.name: {key for dep in stage.params for key in dep.params}
            for stage in repo.index.stages
            if Path(stage.path) == root_file
        }


def _fields(section: str, cls) -> set[str]:
    return {f"{section}.{f.name}" for f in dataclasses.fields(cls)}


def test_every_train_stage_lists_every_train_key_and_no_loss_key(stage_params):
    losses = load_params(ROOT / "params.yaml").train.losses
    expected = _fields("train", TrainParams) - NOT_TRAINING
    for loss in losses:
        declared = stage_params[f"train@{loss}"]
        missing = expected - declared
        assert not missing, f"train@{loss}: add {sorted(missing)} to its params in dvc.yaml"
        loss_keys = {k for k in declared if k == "loss" or k.startswith("loss.")}
        assert not loss_keys, f"train@{loss}: {sorted(loss_keys)} belong to stage loss_settings"
        assert not declared & {"train", "train.losses"}
        assert not {k for k in declared if k.startswith("train.loss_overrides")}


def test_loss_settings_lists_every_loss_key_the_overrides_and_the_matrix(stage_params):
    declared = stage_params["loss_settings"]
    expected = _fields("loss", LossParams) - {"loss.type"}  # the loss is train.losses' entry
    expected |= {"train.losses", "train.loss_overrides"}
    missing = expected - declared
    assert not missing, f"loss_settings: add {sorted(missing)} to its params in dvc.yaml"


def test_each_train_stage_depends_on_its_own_settings_file_and_passes_it():
    with Repo(str(ROOT)) as repo:
        train = [s for s in repo.index.stages if s.name.startswith("train@")]
        (settings,) = [s for s in repo.index.stages if s.name == "loss_settings"]
        for stage in train:
            loss = stage.name.removeprefix("train@")
            path = f"data/loss_settings/{loss}.json"
            assert path in {d.def_path for d in stage.deps}, stage.name
            assert f"--settings {path}" in stage.cmd
            assert settings in repo.index.graph.successors(stage)  # DVC sees the edge


def test_evaluate_depends_on_its_loss_beta_not_on_other_losses(stage_params):
    """evaluate@<loss> takes beta from its loss's settings file (a dep), or evaluate.beta: it
    lists no `loss:` key and no overrides, so another loss's change does not rerun it."""
    with Repo(str(ROOT)) as repo:
        deps = {s.name: {d.def_path for d in s.deps} for s in repo.index.stages}
    for loss in load_params(ROOT / "params.yaml").train.losses:
        declared = stage_params[f"evaluate@{loss}"]
        assert f"data/loss_settings/{loss}.json" in deps[f"evaluate@{loss}"]
        assert "evaluate" in declared or "evaluate.beta" in declared
        assert not {k for k in declared if k == "loss" or k.startswith("loss.")}
        assert not {k for k in declared if k == "train" or k.startswith("train.loss_overrides")}


def test_every_loss_has_an_overrides_entry_for_its_stages_to_depend_on():
    params = load_params(ROOT / "params.yaml")
    missing = [loss for loss in params.train.losses if loss not in params.train.loss_overrides]
    assert not missing, f"params.yaml train.loss_overrides needs an entry ({{}}) for {missing}"
