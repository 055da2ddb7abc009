"""The train stage: matrix entries, dvclive curves, pair weights, resume, LoRA, 2 processes."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
import torch
import yaml
from safetensors.torch import load_file
from transformers import TrainerCallback

from capo.errors import EXIT_INPUT, CapoError
from capo.settings import LossSettings
from capo_pipelines.data.contract import join_reference
from capo_pipelines.models.checkpoints import checkpoint_problem, resume_checkpoint
from capo_pipelines.models.logps import reference_logps
from capo_pipelines.models.tiny import build_tiny_llama, train_tokenizer
from capo_pipelines.models.training import make_config, pair_weights, train_loss
from capo_pipelines.params import ParamsError, load_params
from capo_pipelines.params.losses import loss_settings, write_loss_settings
from capo_pipelines.train import DvcLiveCallback, main
from tests.test_reference import pairs_frame

ROOT = Path(__file__).resolve().parents[1]
TRAIN_PARAMS = {
    "losses": ["capo", "sigmoid"],
    "batch_size": 4,
    "max_steps": 6,
    "save_steps": 2,
    "logging_steps": 1,
    "learning_rate": 1e-3,
    "warmup_ratio": 0.0,
}


@pytest.fixture(scope="module")
def workspace(tmp_path_factory) -> Path:
    """A tiny policy, validated pairs and their reference log-probs, laid out like the repo."""
    root = tmp_path_factory.mktemp("stage")
    train, test = pairs_frame(24), pairs_frame(8).assign(split="test")
    test["id"] = test["id"] + "-t"
    texts = [*train["prompt"], *train["chosen"], *train["rejected"]]
    tok = train_tokenizer(texts * 3, vocab_size=400)
    model = build_tiny_llama(tok, hidden_size=32, num_layers=2, num_heads=2, seed=0)
    model.save_pretrained(root / "models/policy")
    tok.save_pretrained(root / "models/policy")
    for split, pairs in (("train", train), ("test", test)):
        (root / "data/validated").mkdir(parents=True, exist_ok=True)
        (root / "data/reference").mkdir(parents=True, exist_ok=True)
        pairs.to_parquet(root / f"data/validated/{split}.parquet")
        ref = reference_logps(model, tok, pairs, batch_size=8, max_length=64)
        ref.to_parquet(root / f"data/reference/{split}.parquet")
    return root


def write_params(root: Path, name: str = "params.yaml", **train: object) -> Path:
    data = {"seed": 0, "policy": {"max_length": 64}, "train": {**TRAIN_PARAMS, **train}}
    (root / name).write_text(yaml.safe_dump(data))
    return root / name


def stage_args(root: Path, loss: str, tag: str, params: Path) -> list[str]:
    """The train stage's arguments, with the loss's settings file as the loss_settings stage
    writes it (none for a loss params do not train: the stage refuses the loss first)."""
    settings = root / tag / "settings" / f"{loss}.json"
    with contextlib.suppress(CapoError, ParamsError):
        write_loss_settings(loss, load_params(params), settings.parent)
    return [
        *("--settings", str(settings)),
        *("--loss", loss, "--params", str(params), "--policy", str(root / "models/policy")),
        *("--pairs", str(root / "data/validated"), "--reference", str(root / "data/reference")),
        *("--out", str(root / tag / "model"), "--checkpoints", str(root / tag / "ckpt")),
        *("--live", str(root / tag / "live")),
    ]


def losses_of(history: list[dict]) -> list[float]:
    return [h["loss"] for h in history if "loss" in h]


@pytest.mark.slow
@pytest.mark.parametrize("loss", ["capo", "sigmoid"])
def test_stage_trains_logs_and_saves_pair_weights(workspace, loss):
    from capo_pipelines.loss_settings import main as write_settings

    params, folder = write_params(workspace), workspace / f"run-{loss}/settings"
    write_settings(["--params", str(params), "--out", str(folder)])
    main(
        [*stage_args(workspace, loss, f"run-{loss}", params), "--settings", f"{folder}/{loss}.json"]
    )
    out, live = workspace / f"run-{loss}/model", workspace / f"run-{loss}/live"
    before, after = (
        load_file(workspace / "models/policy/model.safetensors"),
        load_file(out / "model.safetensors"),
    )
    assert any(not torch.equal(before[k], after[k]) for k in before)
    curve = pd.read_csv(live / "plots/metrics/train/loss.tsv", sep="\t")
    assert curve["step"].tolist() == [1, 2, 3, 4, 5, 6]
    metrics = json.loads((live / "metrics.json").read_text())
    assert 0 <= metrics["eval"]["rewards"]["accuracies"] <= 1
    assert ("capo" in metrics["train"]) == (loss == "capo")
    flat = json.dumps(metrics)  # wall-clock figures would change the tracked file on every run
    assert "runtime" not in flat and "per_second" not in flat
    weights = pd.read_parquet(out / "pair_weights.parquet")
    assert (
        weights["id"].tolist()
        == pd.read_parquet(workspace / "data/validated/train.parquet")["id"].tolist()
    )
    assert weights["margin"].abs().gt(0).all()
    if loss == "capo":
        assert weights["w"].between(0, 2).all() and weights["c"].between(0, 1).all()
    else:  # a TRL loss's model has no CAPO weights
        assert weights["w"].isna().all() and weights["c"].isna().all()
    tokenizer_config = json.loads((out / "tokenizer_config.json").read_text())
    assert "local_files_only" not in tokenizer_config  # loaded under HF_HUB_OFFLINE=1 (conftest)


def test_pair_weights_of_the_reference_policy_are_the_data_confidence(workspace):
    """pi == pi_ref: margin 0, c = 1/2 and w = q = sigmoid(kappa (s_w - s_l)), 1 if unscored."""
    from capo_pipelines.models.load import load_pretrained

    params = load_params(write_params(workspace))
    model, tok = load_pretrained(str(workspace / "models/policy"))
    pairs = pd.read_parquet(workspace / "data/validated/train.parquet")
    pairs = join_reference(pairs, pd.read_parquet(workspace / "data/reference/train.parquet"), "r")
    hyper = LossSettings(beta=0.1, gamma=2.0, tau=1.0, kappa=0.5, label_smoothing=0.0)
    table = pair_weights(model, tok, pairs, hyper, params)
    assert table["margin"].abs().max() < 1e-5 and table["c"].sub(0.5).abs().max() < 1e-5
    diff = (pairs["score_chosen"] - pairs["score_rejected"]).to_numpy()
    q = torch.sigmoid(0.5 * torch.tensor(diff)).nan_to_num(1.0).numpy()
    assert pairs["score_chosen"].isna().any()
    assert abs(table["w"].to_numpy() - q).max() < 1e-5


class _Kill(TrainerCallback):
    """Simulates a killed process one step after a checkpoint."""

    def on_step_end(self, args, state, control, **kwargs):
        if state.global_step == 5:
            raise KeyboardInterrupt("killed at step 5")


# A log every 3 steps, a checkpoint every 2: checkpoint-4 holds the loss and TRL metrics of
# step 4, which only the log at step 6 reports, and a resumed run must count them there.
RESUME = {"logging_steps": 3, "save_steps": 2}


def _run(workspace: Path, tag: str, callbacks: list, **train: object) -> None:
    params = load_params(write_params(workspace, f"{tag}.yaml", **train))
    splits = {}
    for split in ("train", "test"):
        pairs = pd.read_parquet(workspace / f"data/validated/{split}.parquet")
        ref = pd.read_parquet(workspace / f"data/reference/{split}.parquet")
        splits[split] = join_reference(pairs, ref, split)
    train_loss(
        "capo",
        params,
        workspace / "models/policy",
        splits["train"],
        splits["test"],
        out_dir=workspace / tag / "model",
        checkpoint_dir=workspace / tag / "ckpt",
        settings=loss_settings("capo", params),
        callbacks=[*callbacks, DvcLiveCallback(workspace / tag / "live")],
    )


@pytest.fixture(scope="module")
def undisturbed(workspace) -> Path:
    """The run the resumed ones must equal, byte for byte."""
    _run(workspace, "straight", [], **RESUME)
    return workspace / "straight"


def _differences(a: Path, b: Path) -> list[str]:
    """Files of the model folder and dvclive's metrics.json whose bytes differ between runs."""
    names = sorted({p.name for run in (a, b) for p in (run / "model").iterdir()})
    files = [f"model/{name}" for name in names] + ["live/metrics.json"]

    def read(path: Path) -> bytes | None:
        return path.read_bytes() if path.is_file() else None

    return [f for f in files if read(a / f) != read(b / f) or read(a / f) is None]


def _resumed_from(caplog) -> list[str]:
    return [r.getMessage() for r in caplog.records if "resuming from" in r.getMessage()]


@pytest.mark.slow
def test_a_killed_run_resumes_to_the_bytes_of_an_undisturbed_run(workspace, undisturbed, caplog):
    """Weights, log_history.json (train_loss, num_tokens, the log after the checkpoint) and
    dvclive's metrics.json of a run killed after checkpoint-4 and rerun equal an undisturbed
    run's, so DVC sees the same outputs."""
    with pytest.raises(KeyboardInterrupt):
        _run(workspace, "killed", [_Kill()], **RESUME)
    assert not (workspace / "killed/model").exists()
    assert (workspace / "killed/ckpt/checkpoint-4").is_dir()
    with caplog.at_level("INFO", logger="capo_pipelines.models.training"):
        _run(workspace, "killed", [], **RESUME)
    (resumed,) = _resumed_from(caplog)
    assert resumed.endswith("checkpoint-4")
    history = json.loads((undisturbed / "model/log_history.json").read_text())
    assert [h["step"] for h in history if "loss" in h] == [3, 6]
    assert any("num_tokens" in h for h in history) and "train_loss" in history[-2]
    assert _differences(undisturbed, workspace / "killed") == []
    curves = [
        pd.read_csv(workspace / f"{tag}/live/plots/metrics/train/loss.tsv", sep="\t")
        for tag in ("straight", "killed")
    ]
    assert curves[1]["step"].tolist() == [3, 6]
    assert curves[1]["loss"].tolist() == curves[0]["loss"].tolist()


def _cut(path: Path) -> None:
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])


DAMAGE = {  # what a save cut short by a full disk or a kill leaves, and the reason logged
    "no trainer_state.json": lambda d: (d / "trainer_state.json").unlink(),
    "trainer_state.json does not parse": lambda d: (d / "trainer_state.json").write_text('{"gl'),
    "trainer_state.json is at step 2, not 4": lambda d: (d / "trainer_state.json").write_text(
        '{"global_step": 2}'
    ),
    "model.safetensors is unreadable": lambda d: _cut(d / "model.safetensors"),
    "optimizer.pt is cut short": lambda d: _cut(d / "optimizer.pt"),
    "scheduler.pt is empty": lambda d: (d / "scheduler.pt").write_bytes(b""),
    "no rng_state.pth": lambda d: (d / "rng_state.pth").unlink(),
    "no capo_loop_state.json": lambda d: (d / "capo_loop_state.json").unlink(),
}


@pytest.mark.slow
def test_an_incomplete_last_checkpoint_is_skipped_for_the_one_before(
    workspace, undisturbed, caplog, tmp_path
):
    """A checkpoint-4 without trainer_state.json (the disk filled while saving it) is logged
    and removed, the run resumes from checkpoint-2 and ends as the undisturbed run; every
    other kind of damage is recognised too, and with no complete checkpoint a run starts
    afresh."""
    with pytest.raises(KeyboardInterrupt):
        _run(workspace, "torn", [_Kill()], **RESUME)
    ckpt = workspace / "torn/ckpt"
    assert checkpoint_problem(ckpt / "checkpoint-4", 1) is None
    for reason, damage in DAMAGE.items():
        copy = tmp_path / f"case{len(list(tmp_path.iterdir()))}"
        shutil.copytree(ckpt / "checkpoint-4", copy / "checkpoint-4")
        damage(copy / "checkpoint-4")
        assert (checkpoint_problem(copy / "checkpoint-4", 1) or "").startswith(reason), reason
        assert resume_checkpoint(copy, 1, main=True) is None  # nothing else: a fresh start
        assert not (copy / "checkpoint-4").exists()

    (ckpt / "checkpoint-4/trainer_state.json").unlink()
    caplog.clear()
    with caplog.at_level("INFO", logger="capo_pipelines.models"):
        _run(workspace, "torn", [], **RESUME)
    skipped = [r.getMessage() for r in caplog.records if "skipping" in r.getMessage()]
    folder = ckpt / "checkpoint-4"
    assert skipped == [
        f"skipping incomplete checkpoint {folder}: no trainer_state.json; removing it"
    ]
    (resumed,) = _resumed_from(caplog)
    assert resumed.endswith("checkpoint-2")
    assert _differences(undisturbed, workspace / "torn") == []


def test_stale_checkpoints_of_other_params_are_not_resumed(workspace, caplog):
    ckpt = workspace / "stale/ckpt"
    (ckpt / "checkpoint-2").mkdir(parents=True)
    (ckpt / "capo_fingerprint.json").write_text('{"fingerprint": "other"}')
    params = load_params(write_params(workspace, max_steps=1))
    pairs = pd.read_parquet(workspace / "data/validated/train.parquet")
    pairs = join_reference(pairs, pd.read_parquet(workspace / "data/reference/train.parquet"), "r")
    train_loss(
        "sigmoid",
        params,
        workspace / "models/policy",
        pairs,
        None,
        out_dir=workspace / "stale/model",
        checkpoint_dir=ckpt,
        settings=loss_settings("sigmoid", params),
    )
    assert not (ckpt / "checkpoint-2").exists() and (ckpt / "checkpoint-1").is_dir()


@pytest.mark.slow
def test_lora_trains_adapters_and_saves_merged_weights(workspace):
    params = write_params(workspace, max_steps=2, lora={"enabled": True, "r": 4})
    main(stage_args(workspace, "capo", "lora", params))
    out = workspace / "lora/model"
    assert not (out / "adapter_config.json").exists()
    before, after = (
        load_file(workspace / "models/policy/model.safetensors"),
        load_file(out / "model.safetensors"),
    )
    assert before.keys() == after.keys()
    changed = {k for k in before if not torch.equal(before[k], after[k])}
    assert changed and all("_proj" in k and "mlp" not in k for k in changed)


def test_bad_inputs_exit_3_naming_the_problem(workspace, capsys):
    from capo_pipelines._stage import run_stage

    params = write_params(workspace)
    with pytest.raises(SystemExit) as exit_info:
        run_stage("train", lambda: main(stage_args(workspace, "hinge", "bad", params)))
    assert exit_info.value.code == EXIT_INPUT
    assert "loss 'hinge' is not in params train.losses" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        run_stage("train", lambda: main(stage_args(workspace, "dpo", "bad", params)))
    assert "unknown loss 'dpo'" in capsys.readouterr().err
    pairs = pd.read_parquet(workspace / "data/validated/train.parquet")
    ref = pd.read_parquet(workspace / "data/reference/train.parquet").drop(index=[3])
    with pytest.raises(CapoError, match=f"ref.parquet: no reference log-probs .*{pairs['id'][3]}"):
        join_reference(pairs, ref, "ref.parquet")
    lora = write_params(workspace, "lora.yaml", lora={"enabled": True, "target_modules": ["qkv"]})
    with pytest.raises(SystemExit):
        run_stage("train", lambda: main(stage_args(workspace, "capo", "bad", lora)))
    err = capsys.readouterr().err
    assert "train.lora.target_modules: ['qkv'] not in the model" in err and "q_proj" in err
    bad = workspace / "bad.yaml"
    bad.write_text("train: {losses: [capo, dpo]}\n")
    with pytest.raises(ParamsError, match=r"losses\[1\]: unknown loss 'dpo'"):
        load_params(bad)


def test_global_batch_is_split_over_processes(workspace, monkeypatch, tmp_path):
    params = load_params(write_params(workspace, batch_size=8))
    monkeypatch.setattr("capo_pipelines.models.training._world_size", lambda: 2)
    settings = loss_settings("capo", params)
    assert make_config("capo", params, tmp_path, settings).per_device_train_batch_size == 4
    monkeypatch.setattr("capo_pipelines.models.training._world_size", lambda: 3)
    with pytest.raises(CapoError, match="batch_size 8 not divisible by 3"):
        make_config("capo", params, tmp_path, settings)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.slow
def test_two_processes_give_the_single_process_loss_curve(workspace):
    """2 CPU processes (torchrun + accelerate, gloo) against 1, same params and data."""
    params = write_params(workspace, "params2.yaml", max_steps=4)
    main(stage_args(workspace, "capo", "one", params))
    # `accelerate launch --cpu` starts one process (its multi-CPU mode needs MPI); torchrun
    # starts two, and accelerate (inside Trainer) joins them over gloo.
    launch = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2"]
    launch += ["--master_port", str(_free_port()), "-m", "capo_pipelines.train"]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "TQDM_DISABLE": "1"}
    done = subprocess.run(
        launch + stage_args(workspace, "capo", "two", params),
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert "training capo on 2 process(es)" in done.stderr
    one, two = (
        json.loads((workspace / f"{tag}/model/log_history.json").read_text())
        for tag in ("one", "two")
    )
    assert len(losses_of(one)) == len(losses_of(two)) == 4
    torch.testing.assert_close(
        torch.tensor(losses_of(two)), torch.tensor(losses_of(one)), atol=1e-4, rtol=1e-4
    )
    assert (workspace / "two/model/pair_weights.parquet").is_file()


@pytest.mark.slow
def test_a_finished_run_leaves_no_checkpoints_so_a_forced_rerun_trains_in_full(workspace):
    """`dvc repro -f` after a finished run: no checkpoint to resume at the end, so the rerun
    trains every step again and logs a complete curve and its training loss."""
    params = write_params(workspace, save_steps=2)
    for _ in range(2):
        main(stage_args(workspace, "capo", "again", params))
        assert not (workspace / "again/ckpt").exists()
        live = workspace / "again/live"
        curve = pd.read_csv(live / "plots/metrics/train/loss.tsv", sep="\t")
        assert curve["step"].tolist() == [1, 2, 3, 4, 5, 6]
        assert json.loads((live / "metrics.json").read_text())["train_loss"] > 0
