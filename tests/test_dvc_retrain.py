"""A CAPO-only setting retrains capo alone; loss.beta retrains every loss.

The train stages take their loss's settings from the loss_settings stage's files
(data/loss_settings/<loss>.json), which hold exactly what each loss reads. The unit tests check
those files; the DVC test reproduces a tiny pipeline once in a temporary git copy of this
repository and asks `dvc status` which train stages a params change leaves stale.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
import yaml

from capo.errors import CapoError
from capo.settings import LossSettings
from capo_pipelines.loss_settings import main as write_settings
from capo_pipelines.params import LossParams
from capo_pipelines.params.losses import read_loss_settings
from tests.conftest import GIT_ENV, copy_worktree, dvc_bin
from tests.test_register import flip_bytes

PARAMS = {
    "loss": {"beta": 0.2, "gamma": 2.0, "tau": 0.5, "direction": "up", "use_scores": False},
    "train": {
        "losses": ["capo", "sigmoid", "robust"],
        "loss_overrides": {"robust": {"label_smoothing": 0.1}},
    },
}


def _settings(tmp_path: Path, params: dict, tag: str = "out") -> dict[str, str]:
    path = tmp_path / f"{tag}.yaml"
    path.write_text(yaml.safe_dump(params), encoding="utf-8")
    write_settings(["--params", str(path), "--out", str(tmp_path / tag)])
    return {p.stem: p.read_text(encoding="utf-8") for p in sorted((tmp_path / tag).iterdir())}


def test_capo_file_holds_every_setting_and_a_trl_loss_file_beta_and_label_smoothing(tmp_path):
    files = _settings(tmp_path, PARAMS)
    assert sorted(files) == ["capo", "robust", "sigmoid"]
    assert json.loads(files["capo"]) == {
        "beta": 0.2,
        "gamma": 2.0,
        "tau": 0.5,
        "kappa": 1.0,
        "label_smoothing": 0.0,
        "direction": "up",
        "use_scores": False,
        "use_translation_confidence": True,
    }
    assert json.loads(files["sigmoid"]) == {"beta": 0.2, "label_smoothing": 0.0}
    assert json.loads(files["robust"]) == {"beta": 0.2, "label_smoothing": 0.1}
    assert files["capo"] == json.dumps(json.loads(files["capo"]), indent=1, sort_keys=True) + "\n"


def test_a_capo_only_change_rewrites_capo_alone_and_beta_every_file(tmp_path):
    before = _settings(tmp_path, PARAMS, "before")
    for key, value in (("gamma", 0.5), ("kappa", 3.0), ("use_translation_confidence", False)):
        params = {**PARAMS, "loss": {**PARAMS["loss"], key: value}}
        after = _settings(tmp_path, params, key)
        assert [loss for loss in before if before[loss] != after[loss]] == ["capo"], key
    after = _settings(tmp_path, {**PARAMS, "loss": {**PARAMS["loss"], "beta": 0.3}}, "beta")
    assert all(before[loss] != after[loss] for loss in before)


def test_the_train_stage_reads_back_what_was_written(tmp_path):
    _settings(tmp_path, PARAMS)
    capo = read_loss_settings(tmp_path / "out/capo.json")
    assert capo == LossSettings(
        beta=0.2, gamma=2.0, tau=0.5, kappa=1.0, label_smoothing=0.0, direction="up",
        use_scores=False,
    )  # fmt: skip
    sigmoid = read_loss_settings(tmp_path / "out/sigmoid.json")
    assert (sigmoid.beta, sigmoid.label_smoothing) == (0.2, 0.0)
    assert (sigmoid.gamma, sigmoid.tau, sigmoid.direction) == (
        LossParams.gamma,
        LossParams.tau,
        LossParams.direction,
    )  # LossParams' defaults, not params' gamma 2.0 / tau 0.5 / up: a TRL loss ignores them
    (tmp_path / "bad.json").write_text('{"beta": 0.1, "gama": 2.0}')
    with pytest.raises(CapoError, match=r"bad\.json: unknown loss settings \['gama'\]"):
        read_loss_settings(tmp_path / "bad.json")


# ---- DVC: which train stages a params change leaves stale ----------------------------------

TINY = [
    "ingest.benchmark.train_pairs=90",
    "ingest.benchmark.test_pairs=45",
    "policy.hidden_size=32",
    "policy.num_layers=1",
    "policy.num_heads=2",
    "policy.vocab_size=300",
    "policy.sft_epochs=1.0",
    "train.losses=[capo,sigmoid]",
    "train.max_steps=2",
]


def _dvc(repo: Path, *args: str) -> str:
    proc = subprocess.run(
        [dvc_bin(), *args], cwd=repo, env=GIT_ENV, capture_output=True, text=True, timeout=1200
    )
    assert proc.returncode == 0, f"dvc {args}: {proc.stdout[-3000:]}{proc.stderr[-3000:]}"
    return proc.stdout


def _stale_train_stages(repo: Path, overrides: list[str]) -> set[str]:
    """Apply ``overrides``, run what DVC would run first (the cheap settings stage, when the
    pipeline has one), then the train stages `dvc status` reports changed."""
    from dvc.utils.hydra import apply_overrides

    apply_overrides(repo / "params.yaml", overrides)
    if "loss_settings" in _dvc(repo, "stage", "list", "--name-only").split():
        _dvc(repo, "repro", "--single-item", "loss_settings")
    status = json.loads(_dvc(repo, "status", "dvc.yaml", "--json"))
    names = {key.rsplit(":", 1)[-1] for key in status}
    return {name for name in names if name.startswith("train@")}


@pytest.fixture(scope="module")
def reproduced(tmp_path_factory) -> Path:
    from dvc.utils.hydra import apply_overrides

    repo = copy_worktree(tmp_path_factory.mktemp("retrain"))
    apply_overrides(repo / "params.yaml", TINY)
    _dvc(repo, "repro", "train")
    assert _stale_train_stages(repo, []) == set()
    return repo


@pytest.mark.slow
def test_gamma_leaves_only_train_at_capo_stale_and_beta_every_train_stage(reproduced):
    assert _stale_train_stages(reproduced, ["loss.gamma=2.0"]) == {"train@capo"}
    assert _stale_train_stages(reproduced, ["loss.use_scores=false"]) == {"train@capo"}
    assert _stale_train_stages(reproduced, ["loss.beta=0.2"]) == {"train@capo", "train@sigmoid"}


@pytest.mark.slow
def test_trained_models_match_dvc_lock_until_a_byte_changes_behind_dvcs_back(
    reproduced, monkeypatch
):
    """register's check against a real dvc.lock: each train stage's model folder has the md5s
    DVC recorded; a byte flipped with the mtime kept (DVC sees nothing) is named, with the fix."""
    from capo_pipelines.models.registry import check_dvc_record

    monkeypatch.chdir(reproduced)
    for loss in ("capo", "sigmoid"):
        assert "model.safetensors" in check_dvc_record(Path("models") / loss)
    weights = reproduced / "models/sigmoid/model.safetensors"
    flip_bytes(weights)
    try:
        with pytest.raises(CapoError) as refused:
            check_dvc_record(Path("models/sigmoid"))
    finally:
        flip_bytes(weights)  # flipped back: the module's other tests see the model DVC made
    assert str(refused.value).startswith("models/sigmoid/model.safetensors: md5 ")
    assert "(dvc.lock stage train@sigmoid); restore it from DVC's cache: delete it, then " in str(
        refused.value
    )
    assert check_dvc_record(Path("models/sigmoid"))
