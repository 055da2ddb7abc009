"""Promotion gate, model card and registration: real DVC, GTO and a local DVC remote."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
from pathlib import Path

import pandas as pd
import pytest
import yaml

from capo.errors import EXIT_INPUT
from capo_pipelines.evaluation.metrics import generation_health
from capo_pipelines.models.registry import CardInfo, gate_checks, model_card
from capo_pipelines.params import RegisterParams, load_params
from capo_pipelines.params.losses import settings_document
from tests.conftest import GIT_ENV as ENV
from tests.conftest import git_dvc_repo

DVC_YAML = """artifacts:
  capo-policy:
    path: models/registry/capo-policy
    type: model
    desc: CAPO-aligned multilingual policy
    labels: [capo, multilingual]
stages:
  register:
    cmd: python -m capo_pipelines.register --params params.yaml --metrics metrics --models models
      --train-data data/validated/train.parquet --out models/registry/capo-policy
    deps: [metrics/capo.json, metrics/sigmoid.json, models/capo, data/validated/train.parquet]
    params: [register]
    outs: [models/registry/capo-policy]
"""


def _metrics(overall: float, per_language: dict[str, float], answers: float = 0.9) -> dict:
    """A metrics document; ``answers`` is the model's generation accuracy (policy: 0.9)."""
    doc = {
        "overall": {
            "reward_accuracy": overall,
            "reward_margin": 0.5,
            "generation_accuracy": answers,
            "language_fidelity": 0.99,
            "empty_rate": 0.0 if answers else 1.0,
        },
        "per_language": {
            k: {"reward_accuracy": v, "reward_margin": 0.4} for k, v in per_language.items()
        },
        "reference": {"overall": {"generation_accuracy": 0.9, "language_fidelity": 0.99}},
    }
    doc["health"] = generation_health(doc, max_empty_rate=0.02, max_drop=0.05)
    return doc


def _sh(args, cwd, check=True):
    proc = subprocess.run(args, cwd=cwd, capture_output=True, text=True, env=ENV)
    if check:
        assert proc.returncode == 0, f"{args}: {proc.stdout}\n{proc.stderr}"
    return proc


def _md5(path: Path) -> str:
    return hashlib.md5(path.read_bytes()).hexdigest()


@pytest.fixture
def repo(tmp_path, make_tiny_model, tiny_tokenizer):
    files = {
        "dvc.yaml": DVC_YAML,
        "params.yaml": yaml.safe_dump(
            {
                "register": {
                    "min_reward_accuracy": 0.6,
                    "language_floor": 0.5,
                    "min_gain_over_baseline": 0.02,
                }
            }
        ),
        "metrics/capo.json": json.dumps(_metrics(0.8, {"de": 0.75, "hi": 0.7})),
        "metrics/sigmoid.json": json.dumps(_metrics(0.7, {"de": 0.7, "hi": 0.6})),
        ".gitignore": "/remote/\n",
    }
    root = git_dvc_repo(tmp_path / "repo", files)
    make_tiny_model().save_pretrained(root / "models" / "capo")
    tiny_tokenizer.save_pretrained(root / "models" / "capo")
    (root / "data" / "validated").mkdir(parents=True)
    pd.DataFrame({"id": ["a"], "prompt": ["p"]}).to_parquet(root / "data/validated/train.parquet")
    _sh(["dvc", "remote", "add", "-d", "local", str(tmp_path / "remote")], root)
    _sh(["dvc", "add", "models/capo", "data/validated/train.parquet"], root)
    _sh(["git", "add", "-A"], root)
    _sh(["git", "commit", "-qm", "inputs"], root)
    return root


def test_gate_checks_every_condition():
    metrics = {"capo": _metrics(0.8, {"de": 0.9, "hi": 0.4}), "sigmoid": _metrics(0.79, {})}
    gate = RegisterParams(min_reward_accuracy=0.7, language_floor=0.5, min_gain_over_baseline=0.02)
    result = {c.name: c.passed for c in gate_checks(metrics, gate)}
    assert result == {
        "overall reward accuracy": True,
        "reward accuracy [de]": True,
        "reward accuracy [hi]": False,
        "empty answers": True,
        "generation accuracy drop vs policy": True,
        "language fidelity drop vs policy": True,
        "gain over sigmoid": False,
    }


def test_gate_refuses_a_model_that_stopped_answering():
    """The collapse of the first default runs: every answer EOS, reward accuracy fine."""
    collapsed = _metrics(0.9, {"de": 0.9}, answers=0.0)
    collapsed["overall"]["language_fidelity"] = 0.0
    collapsed["health"] = generation_health(collapsed, max_empty_rate=0.02, max_drop=0.05)
    metrics = {"capo": collapsed, "sigmoid": _metrics(0.5, {})}
    gate = RegisterParams(min_reward_accuracy=0.5, language_floor=0.5, min_gain_over_baseline=0)
    failed = {c.name for c in gate_checks(metrics, gate) if not c.passed}
    assert failed == {
        "empty answers",
        "generation accuracy drop vs policy",
        "language fidelity drop vs policy",
    }
    slipping = _metrics(0.9, {"de": 0.9}, answers=0.84)  # 0.06 below the policy's 0.9
    checks = {c.name: c.passed for c in gate_checks({**metrics, "capo": slipping}, gate)}
    assert checks["generation accuracy drop vs policy"] is False and checks["empty answers"]


def test_the_card_shows_the_registered_loss_settings_and_no_run_dependent_fields():
    """register.loss robust trains with label_smoothing 0.1 (its override), not loss: 0.0."""
    params = load_params("params.yaml")
    settings = settings_document("robust", params)
    assert (settings["label_smoothing"], params.loss.label_smoothing) == (0.1, 0.0)
    info = CardInfo(
        name="capo-policy",
        base_model="builtin-tiny",
        languages=["de"],
        loss="robust",
        settings=settings,
        metrics=_metrics(0.8, {"de": 0.8}),
        baseline_metrics=_metrics(0.7, {"de": 0.7}),
        data_md5="d" * 32,
        weights_md5="w" * 32,
    )
    card = model_card(info)
    assert "- loss: `robust`, beta=0.1, label_smoothing=0.1\n" in card and "w" * 32 in card
    assert "gamma" not in card  # a TRL loss reads beta and label_smoothing only
    assert "git commit):" not in card


@pytest.mark.slow
def test_register_a_version_and_fetch_it_from_a_fresh_clone(repo, tmp_path):
    _sh(["dvc", "repro"], repo)
    package = repo / "models/registry/capo-policy"
    card = (package / "README.md").read_text()
    meta = yaml.safe_load(card.split("---")[1])
    assert meta["language"] == ["de", "hi"] and "base_model" not in meta  # not a Hub id
    assert "`builtin-tiny`" in card and (package / "LICENSE.md").is_file()
    assert "| hi | 0.700 |" in card
    assert _md5(repo / "data/validated/train.parquet") in card
    _sh(["git", "add", "-A"], repo)
    _sh(["git", "commit", "-qm", "package"], repo)
    out = _sh(["capo", "register", "--version", "v0.1.0", "--stage", "staging", "--push"], repo)
    assert "capo-policy v0.1.0 registered" in out.stdout
    shown = json.loads(_sh(["gto", "show", "--json"], repo).stdout)
    assert shown["capo-policy"]["version"] == "v0.1.0"
    assert shown["capo-policy"]["stage"] == {"staging": "v0.1.0"}
    listing = _sh(["capo", "models"], repo).stdout
    assert "| capo-policy | v0.1.0 | staging |" in listing and "0.8000" in listing

    clone = tmp_path / "clone"
    _sh(["git", "clone", "-q", str(repo), str(clone)], tmp_path)
    fetched = tmp_path / "fetched"
    _sh(
        [
            "dvc",
            "artifacts",
            "get",
            str(clone),
            "capo-policy",
            "--rev",
            "v0.1.0",
            "-o",
            str(fetched),
        ],
        tmp_path,
    )
    assert _md5(fetched / "model.safetensors") == _md5(repo / "models/capo/model.safetensors")


@pytest.mark.slow
def test_register_push_to_hub_uploads_the_registered_package(repo, hub_uploads, monkeypatch):
    """`capo register --push-to-hub`: the Hub client's upload calls recorded (hub_uploads)."""
    from capo.cli import main

    _sh(["dvc", "repro"], repo)
    _sh(["git", "add", "-A"], repo)
    _sh(["git", "commit", "-qm", "package"], repo)
    monkeypatch.chdir(repo)
    assert main(["register", "--version", "v0.1.0", "--push-to-hub", "someone/capo-policy"]) == 0
    create, upload = hub_uploads
    assert (create["repo_id"], create["repo_type"], create["exist_ok"]) == (
        "someone/capo-policy",
        "model",
        True,
    )
    assert (upload["repo_id"], upload["repo_type"]) == ("someone/capo-policy", "model")
    assert upload["folder"] == Path("models/registry/capo-policy")  # dvc.yaml's artifact path
    assert upload["commit_message"] == "capo-policy v0.1.0"
    assert {"README.md", "LICENSE.md", "model.safetensors", "config.json"} <= set(upload["files"])
    assert json.loads(_sh(["gto", "show", "--json"], repo).stdout)["capo-policy"]["version"] == (
        "v0.1.0"
    )


@pytest.mark.slow
def test_a_failing_gate_registers_nothing(repo):
    (repo / "metrics/capo.json").write_text(json.dumps(_metrics(0.71, {"de": 0.8, "hi": 0.3})))
    proc = _sh(["dvc", "repro"], repo, check=False)
    assert proc.returncode != 0
    assert "promotion gate failed (reward accuracy [hi], gain over sigmoid)" in proc.stderr
    assert "| reward accuracy [hi] | 0.3000 | 0.5000 | FAIL |" in proc.stderr
    assert "Traceback" not in proc.stderr
    assert not (repo / "models/registry/capo-policy").exists()
    _sh(["git", "add", "-A"], repo)
    _sh(["git", "commit", "-qm", "worse"], repo)
    refused = _sh(["capo", "register", "--version", "v0.2.0"], repo, check=False)
    assert refused.returncode == EXIT_INPUT and "promotion gate failed" in refused.stderr
    assert _sh(["git", "tag"], repo).stdout == ""


@pytest.mark.slow
def test_register_refuses_a_dirty_working_tree(repo):
    (repo / "params.yaml").write_text("register: {}\n")
    refused = _sh(["capo", "register", "--version", "v0.1.0"], repo, check=False)
    assert refused.returncode == EXIT_INPUT and "uncommitted changes" in refused.stderr


# ---- the model's bytes against DVC's record -------------------------------------------------


def flip_bytes(path: Path) -> None:
    """Invert 8 bytes in the middle of ``path`` in place (a hard link sees it), keeping its
    size, mode and mtime: DVC, which trusts a file whose size and mtime it has seen, sees
    no change."""
    info = path.stat()
    path.chmod(info.st_mode | 0o200)
    data = bytearray(path.read_bytes())
    middle = len(data) // 2
    data[middle : middle + 8] = bytes(b ^ 0xFF for b in data[middle : middle + 8])
    with path.open("r+b") as fh:
        fh.write(data)
    path.chmod(info.st_mode)
    os.utime(path, ns=(info.st_atime_ns, info.st_mtime_ns))


def _cached(repo: Path, md5: str) -> Path:
    return repo / ".dvc/cache/files/md5" / md5[:2] / md5[2:]


def _register(repo: Path) -> subprocess.CompletedProcess:
    return _sh(["dvc", "repro", "--force", "--single-item", "register"], repo, check=False)


def _error_line(proc: subprocess.CompletedProcess) -> str:
    """The stage's one error line; no traceback."""
    assert proc.returncode != 0 and "Traceback" not in proc.stderr, proc.stderr[-3000:]
    (line,) = [ln for ln in proc.stderr.splitlines() if ln.startswith("register: error: ")]
    return line.removeprefix("register: error: ")


@pytest.mark.slow
def test_register_refuses_a_model_corrupted_in_dvcs_cache(repo):
    """The cache object behind models/capo/model.safetensors (hard-linked into the workspace)
    gets bytes flipped, mtime kept: DVC says up to date, register names the file and refuses."""
    _sh(["dvc", "config", "cache.type", "hardlink"], repo)
    _sh(["dvc", "checkout", "--relink", "models/capo.dvc"], repo)
    weights = repo / "models/capo/model.safetensors"
    md5, obj = _md5(weights), _cached(repo, _md5(weights))
    assert os.path.samefile(obj, weights)
    _sh(["dvc", "repro"], repo)  # the intact model registers
    assert (repo / "models/registry/capo-policy/model.safetensors").is_file()

    flip_bytes(obj)
    assert "up to date" in _sh(["dvc", "status"], repo).stdout  # DVC does not notice
    line = _error_line(_register(repo))
    assert line == (
        f"models/capo/model.safetensors: md5 {_md5(weights)}, but DVC recorded md5 {md5} "
        f"(models/capo.dvc); DVC's cache copy {obj} is corrupt too: delete it, then recreate "
        "models/capo and `dvc add models/capo`; then register again"
    )
    assert not (repo / "models/registry/capo-policy").exists()


@pytest.mark.slow
def test_register_names_a_changed_file_or_cache_copy_and_its_fix_works(repo):
    """Cache copies (DVC's default link type here): a workspace file changed behind DVC's back,
    then a corrupt cache copy the package would be stored from, each refused with what to do,
    and registered once that is done."""
    weights = repo / "models/capo/model.safetensors"
    md5 = _md5(weights)
    assert not os.path.samefile(_cached(repo, md5), weights)
    flip_bytes(weights)
    line = _error_line(_register(repo))
    assert line.startswith(f"models/capo/model.safetensors: md5 {_md5(weights)}, but DVC ")
    assert line.endswith(
        "restore it from DVC's cache: delete it, then `dvc checkout models/capo`; "
        "then register again"
    )
    weights.unlink()
    _sh(["dvc", "checkout", "models/capo"], repo)
    assert _md5(weights) == md5
    _sh(["dvc", "repro"], repo)

    obj = _cached(repo, md5)
    flip_bytes(obj)
    line = _error_line(_register(repo))
    assert line == (
        f"models/capo/model.safetensors: DVC's cache copy {obj} is corrupt (md5 {_md5(obj)}, "
        f"not {md5}) and the package would be stored from it: delete it, then "
        "`dvc commit --force models/capo.dvc` and register again"
    )
    obj.chmod(0o644)
    obj.unlink()
    _sh(["dvc", "commit", "--force", "models/capo.dvc"], repo)
    assert _md5(obj) == md5
    _sh(["dvc", "repro", "--force", "--single-item", "register"], repo)
    packaged = repo / "models/registry/capo-policy/model.safetensors"
    assert _md5(packaged) == md5
