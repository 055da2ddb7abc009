"""`--push-to-hub REPO` of `capo benchmark export` and of the register stage: what would be
uploaded (the Hub client's create_repo and upload_folder are the only calls replaced, by the
hub_uploads fixture of conftest.py), and one clear line, no traceback, without a token or
without a network. `capo register --push-to-hub` is tested in tests/test_register.py."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import yaml
from huggingface_hub import ModelCard

from capo.cli import main
from capo.errors import EXIT_INPUT, EXIT_USAGE
from tests.conftest import dvc_bin, git_dvc_repo
from tests.test_register import _metrics

ROOT = Path(__file__).resolve().parents[1]
PAIR_FILES = [f"data/{split}-00000-of-00001.parquet" for split in ("test", "train", "validation")]


def _small_params_file(tmp_path: Path) -> Path:
    params = yaml.safe_load((ROOT / "params.yaml").read_text(encoding="utf-8"))
    bench = params["ingest"]["benchmark"]
    bench.update(languages=["en", "de"], max_number=99, train_pairs=40, test_pairs=20)
    path = tmp_path / "params.yaml"
    path.write_text(yaml.safe_dump(params), encoding="utf-8")
    return path


def _export_args(tmp_path: Path, out: Path, repo: str) -> list[str]:
    params = _small_params_file(tmp_path)
    args = ["benchmark", "export", str(out), "--params", str(params), "--study", ""]
    return [*args, "--validation-pairs", "10", "--push-to-hub", repo]


def test_benchmark_export_pushes_the_card_license_and_parquet_files(tmp_path, hub_uploads, capsys):
    out = tmp_path / "bench"
    assert main(_export_args(tmp_path, out, "someone/capo-benchmark")) == 0
    create, upload = hub_uploads
    assert create == {
        "call": "create_repo",
        "repo_id": "someone/capo-benchmark",
        "repo_type": "dataset",
        "exist_ok": True,
    }
    assert upload["call"] == "upload_folder" and upload["repo_id"] == "someone/capo-benchmark"
    assert upload["repo_type"] == "dataset" and upload["folder"] == out
    assert (out / "disk").is_dir()  # written for load_from_disk, but not uploaded
    assert upload["files"] == sorted(
        ["LICENSE.md", "README.md", *PAIR_FILES, "sft/train-00000-of-00001.parquet"]
    )
    assert "https://huggingface.co/datasets/someone/capo-benchmark" in capsys.readouterr().out


def _stage_folder(root: Path, make_tiny_model, tiny_tokenizer) -> Path:
    git_dvc_repo(root, {})  # register checks the model against DVC's record of it
    gate = {"min_reward_accuracy": 0.6, "language_floor": 0.5, "min_gain_over_baseline": 0.02}
    (root / "params.yaml").write_text(yaml.safe_dump({"register": gate}), encoding="utf-8")
    (root / "metrics").mkdir()
    (root / "metrics/capo.json").write_text(json.dumps(_metrics(0.8, {"de": 0.75, "hi": 0.7})))
    (root / "metrics/sigmoid.json").write_text(json.dumps(_metrics(0.7, {"de": 0.7, "hi": 0.6})))
    make_tiny_model().save_pretrained(root / "models" / "capo")
    tiny_tokenizer.save_pretrained(root / "models" / "capo")
    (root / "data").mkdir()
    pd.DataFrame({"id": ["a"], "prompt": ["p"]}).to_parquet(root / "data/train.parquet")
    subprocess.run([dvc_bin(), "add", "-q", "models/capo"], cwd=root, check=True)
    return root


def test_register_stage_pushes_the_package(
    tmp_path, hub_uploads, make_tiny_model, tiny_tokenizer, monkeypatch
):
    from capo_pipelines import register

    monkeypatch.chdir(_stage_folder(tmp_path, make_tiny_model, tiny_tokenizer))
    args = ["--train-data", "data/train.parquet", "--out", "package"]
    register.main([*args, "--push-to-hub", "someone/capo-policy"])
    create, upload = hub_uploads
    assert (create["repo_id"], create["repo_type"], create["exist_ok"]) == (
        "someone/capo-policy",
        "model",
        True,
    )
    assert (upload["repo_id"], upload["repo_type"]) == ("someone/capo-policy", "model")
    assert upload["folder"] == Path("package")
    files = set(upload["files"])
    assert {"README.md", "LICENSE.md", "model.safetensors", "config.json"} <= files
    assert any(f.startswith("tokenizer") for f in files)
    card = ModelCard.load(tmp_path / "package/README.md")
    assert card.data.license == "other" and card.data.license_link == "LICENSE.md"
    assert card.data.base_model is None and "`builtin-tiny`" in card.text


def _without_token(tmp_path: Path) -> dict[str, str]:
    drop = {"HF_TOKEN", "HUGGING_FACE_HUB_TOKEN", "HF_TOKEN_PATH", "HF_OIDC_RESOURCE"}
    env = {k: v for k, v in os.environ.items() if k not in drop}
    return {**env, "HF_HOME": str(tmp_path / "hf-home")}  # no token file there


def _one_error_line(proc: subprocess.CompletedProcess, *parts: str) -> str:
    assert proc.returncode in (EXIT_USAGE, EXIT_INPUT), proc.stderr  # CapoError's exit code
    assert "Traceback" not in proc.stderr
    lines = [line for line in proc.stderr.splitlines() if "error:" in line]
    assert len(lines) == 1, proc.stderr
    assert all(part in lines[0] for part in parts), lines[0]
    return lines[0]


def test_no_token_is_one_line_before_any_work(tmp_path):
    env = _without_token(tmp_path)
    out = tmp_path / "bench"
    export = [sys.executable, "-m", "capo.cli", *_export_args(tmp_path, out, "someone/x")]
    proc = subprocess.run(export, cwd=tmp_path, env=env, capture_output=True, text=True)
    _one_error_line(proc, "capo benchmark: error: --push-to-hub: no Hugging Face token")
    assert not out.exists()  # nothing exported: it failed first

    stage = [sys.executable, "-m", "capo_pipelines.register", "--out", str(tmp_path / "pkg")]
    proc = subprocess.run(
        [*stage, "--push-to-hub", "someone/x"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
    )
    _one_error_line(proc, "register: error: --push-to-hub: no Hugging Face token")

    proc = subprocess.run(
        [*export, "--push-to-hub", "not a repo"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
    )
    _one_error_line(proc, "'not a repo' is not a Hub repo id")


def test_a_network_error_is_one_line(tmp_path):
    """A real connection error: the Hub endpoint is a local port where nothing listens."""
    env = {
        **_without_token(tmp_path),
        "HF_TOKEN": "hf_test_token_not_sent_anywhere",
        "HF_HUB_OFFLINE": "0",
        "HF_ENDPOINT": "http://127.0.0.1:9",
    }
    out = tmp_path / "bench"
    export = [sys.executable, "-m", "capo.cli", *_export_args(tmp_path, out, "someone/x")]
    proc = subprocess.run(
        export, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600
    )
    line = _one_error_line(proc, f"cannot push {out} to the Hub dataset repo someone/x")
    assert "Connect" in line, line
    assert (out / "README.md").is_file()  # the export itself is done and stays
