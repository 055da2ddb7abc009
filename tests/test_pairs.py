"""The pair contract (pipelines/data/contract.py): reference join, split files, loss settings."""

from __future__ import annotations

import ast
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from capo.errors import CapoError
from capo.settings import LossSettings
from capo_pipelines.data.contract import REF_COLUMNS, join_reference, read_split, write_split
from capo_pipelines.params import load_params
from capo_pipelines.params.losses import loss_settings, reward_beta

ROOT = Path(__file__).resolve().parents[1]


def _pairs(ids: list[str]) -> pd.DataFrame:
    return pd.DataFrame({"id": ids, "prompt": "p", "chosen": "c", "rejected": "r"}, index=[7] * 3)


def _reference(ids: list[str]) -> pd.DataFrame:
    n = len(ids)
    return pd.DataFrame({"id": ids, REF_COLUMNS[0]: -np.arange(n) - 1.0, REF_COLUMNS[1]: -5.0})


def test_join_reference_matches_ids_in_any_order():
    joined = join_reference(_pairs(["a", "b", "c"]), _reference(["c", "a", "b"]), "ref.parquet")
    assert joined.index.tolist() == [0, 1, 2]
    assert joined[REF_COLUMNS[0]].tolist() == [-2.0, -3.0, -1.0]
    assert joined[REF_COLUMNS[1]].dtype == float


@pytest.mark.parametrize(
    ("ids", "message"),
    [
        (["a", "b"], r"ref\.parquet: no reference log-probs for 1 pair ids, e\.g\. \['c'\]"),
        (["a", "b", "c", "z"], r"ref\.parquet: 1 reference rows match no pair .*\['z'\]"),
        (["a", "b", "c", "b"], r"ref\.parquet: pair id 'b' has several rows"),
    ],
)
def test_join_reference_names_missing_extra_and_repeated_ids(ids, message):
    with pytest.raises(CapoError, match=message):
        join_reference(_pairs(["a", "b", "c"]), _reference(ids), "ref.parquet")


def test_join_reference_names_a_null_log_prob_and_a_missing_column():
    reference = _reference(["a", "b", "c"])
    reference.loc[1, REF_COLUMNS[1]] = None
    with pytest.raises(CapoError, match=r"r: ref_rejected_logps is missing for pair id 'b'"):
        join_reference(_pairs(["a", "b", "c"]), reference, "r")
    with pytest.raises(CapoError, match=r"r: missing columns \['ref_chosen_logps'\]"):
        join_reference(_pairs(["a"]), reference.drop(columns=[REF_COLUMNS[0]]), "r")


def test_split_files_round_trip(tmp_path):
    path = write_split(_reference(["a", "b"]), tmp_path / "reference", "test")
    assert path == tmp_path / "reference" / "test.parquet"
    pd.testing.assert_frame_equal(
        read_split(tmp_path / "reference", "test"), _reference(["a", "b"])
    )
    with pytest.raises(CapoError, match=r"test\.parquet: missing columns \['language'\]"):
        read_split(tmp_path / "reference", "test", ["id", "language"])


def test_loss_settings_are_named_fields_from_params_and_overrides(tmp_path):
    path = tmp_path / "params.yaml"
    path.write_text(
        "loss: {beta: 0.2, gamma: 2.0, tau: 0.5, kappa: 3.0}\n"
        "train: {losses: [capo, robust], loss_overrides: {capo: {gamma: 0.5}}}\n"
    )
    params = load_params(path)
    assert loss_settings("capo", params) == LossSettings(
        beta=0.2, gamma=0.5, tau=0.5, kappa=3.0, label_smoothing=0.0
    )
    robust = loss_settings("robust", params)  # its default override went with the given dict
    assert robust.gamma == 2.0 and robust.label_smoothing == 0.0
    assert reward_beta(robust, params) == 0.2
    with pytest.raises(CapoError, match=r"unknown loss 'dpo'"):
        loss_settings("dpo", params)
    with pytest.raises(CapoError, match=r"loss 'ipo' is not in params train\.losses"):
        loss_settings("ipo", params)


def test_make_config_hands_the_trainer_the_resolved_settings(tmp_path):
    from capo_pipelines.models.training import make_config

    path = tmp_path / "params.yaml"
    path.write_text("loss: {beta: 0.3, tau: 2.0}\ntrain: {loss_overrides: {capo: {kappa: 4.0}}}\n")
    params = load_params(path)
    config = make_config("capo", params, tmp_path, loss_settings("capo", params))
    assert config.settings == loss_settings("capo", params)  # the object whole, both ways
    got = (config.beta, config.gamma, config.tau, config.kappa, config.label_smoothing)
    assert got == (0.3, 1.0, 2.0, 4.0, 0.0)


def _string_constants(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    return {
        n.value for n in ast.walk(tree) if isinstance(n, ast.Constant) and n.value in REF_COLUMNS
    }


def test_reference_column_names_are_spelled_only_in_the_contract():
    """Only the contract spells TRL's reference columns; every other module imports them."""
    allowed = {"capo/columns.py", "pipelines/data/contract.py"}  # the names, and the contract table
    spelled = sorted(
        path.relative_to(ROOT).as_posix()
        for folder in ("capo",)
        for path in (ROOT / folder).rglob("*.py")
        if _string_constants(path) and path.relative_to(ROOT).as_posix() not in allowed
    )
    assert not spelled, f"these modules spell the reference columns themselves: {spelled}"


def test_the_implicit_reward_has_one_formula():
    from capo.loss import implicit_margin
    from capo_pipelines.evaluation import implicit_rewards

    logps = ([-1.0, -2.0], [-4.0, -1.0], [-2.0, -2.0], [-2.0, -3.0])
    r_w, r_l = implicit_rewards(*logps, beta=0.5)
    assert r_w.tolist() == [0.5, 0.0] and r_l.tolist() == [-1.0, 1.0]
    margin = implicit_margin(*(np.asarray(x) for x in logps), beta=0.5)
    np.testing.assert_allclose(margin, r_w - r_l)
