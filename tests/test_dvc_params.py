"""dvc.yaml declares exactly the params each train/evaluate stage reads, key by key.

A `train:` or `loss:` key that a stage reads but dvc.yaml does not list would leave the stage
stale when the key changes; a whole section listed instead would rerun every loss for any
change. These checks fail when a new key is added to the typed schema and not to dvc.yaml.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
from dvc.repo import Repo

from capo.params import load_params
from capo.params.training import LossParams, TrainParams

ROOT = Path(__file__).resolve().parents[1]
# Read by no train stage: the matrix itself, and every other loss's overrides.
NOT_TRAINING = {"train.losses", "train.loss_overrides", "loss.type"}


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


def test_every_train_stage_lists_every_training_key_and_only_its_own_overrides(stage_params):
    losses = load_params(ROOT / "params.yaml").train.losses
    expected = (_fields("train", TrainParams) | _fields("loss", LossParams)) - NOT_TRAINING
    for loss in losses:
        declared = stage_params[f"train@{loss}"]
        missing = expected - declared
        assert not missing, f"train@{loss}: add {sorted(missing)} to its params in dvc.yaml"
        assert f"train.loss_overrides.{loss}" in declared
        assert not declared & {"train", "loss", "train.losses", "train.loss_overrides"}


def test_evaluate_depends_on_its_loss_beta_not_on_other_losses(stage_params):
    for loss in load_params(ROOT / "params.yaml").train.losses:
        declared = stage_params[f"evaluate@{loss}"]
        assert {"loss.beta", f"train.loss_overrides.{loss}"} <= declared
        assert not declared & {"loss", "loss.gamma", "train", "train.loss_overrides"}


def test_every_loss_has_an_overrides_entry_for_its_stages_to_depend_on():
    params = load_params(ROOT / "params.yaml")
    missing = [loss for loss in params.train.losses if loss not in params.train.loss_overrides]
    assert not missing, f"params.yaml train.loss_overrides needs an entry ({{}}) for {missing}"
