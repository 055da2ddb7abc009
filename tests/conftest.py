"""Shared fixtures: offline environment, a tiny tokenizer and Llama built in the test."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests._procs import stop

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ.setdefault("DVC_NO_ANALYTICS", "1")
os.environ.setdefault("DO_NOT_TRACK", "1")
os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
os.environ.setdefault("TQDM_DISABLE", "1")

# For subprocesses: the venv's executables first (DVC stages call `python -m capo_pipelines.x`)
# and a git identity, so commits and `dvc exp run` work on any machine.
BIN = os.path.dirname(os.path.abspath(sys.executable))
GIT_ENV = {
    **os.environ,
    "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}",
    "GIT_AUTHOR_NAME": "t",
    "GIT_AUTHOR_EMAIL": "t@t",
    "GIT_COMMITTER_NAME": "t",
    "GIT_COMMITTER_EMAIL": "t@t",
}

ROOT = Path(__file__).resolve().parents[1]
TOY_WORDS = ["red", "blue", "green", "cat", "dog", "sun", "moon", "tree", "river", "stone"]


def toy_pairs(n: int = 32) -> list[dict[str, str]]:
    """A learnable toy preference set: the chosen answer always names the prompt's word."""
    rows = []
    for i in range(n):
        word, other = TOY_WORDS[i % len(TOY_WORDS)], TOY_WORDS[(i * 3 + 1) % len(TOY_WORDS)]
        if other == word:
            other = TOY_WORDS[(i + 5) % len(TOY_WORDS)]
        rows.append(
            {"prompt": f"Say {word} {i}:", "chosen": f" {word} {word}", "rejected": f" {other} no"}
        )
    return rows


@pytest.fixture(scope="session")
def tiny_tokenizer():
    from capo_pipelines.models.tiny import train_tokenizer

    texts = [r["prompt"] + r["chosen"] + r["rejected"] for r in toy_pairs(64)]
    return train_tokenizer(texts * 4, vocab_size=300)


@pytest.fixture
def make_tiny_model(tiny_tokenizer):
    from capo_pipelines.models.tiny import build_tiny_llama

    def make(seed: int = 0):
        return build_tiny_llama(
            tiny_tokenizer, hidden_size=32, num_layers=2, num_heads=2, seed=seed
        )

    return make


@pytest.fixture(scope="session")
def prefect_server(tmp_path_factory):
    """One real Prefect server (prefect_test_harness) for the whole test session."""
    os.environ.setdefault("PREFECT_HOME", str(tmp_path_factory.mktemp("prefect-home")))
    from prefect.server.api.server import SubprocessASGIServer
    from prefect.testing.utilities import prefect_test_harness

    server = None
    try:
        with prefect_test_harness(server_startup_timeout=120):
            from prefect.settings import PREFECT_API_URL

            # the harness's server process; the harness stops it, but not if its teardown fails
            server = getattr(SubprocessASGIServer._instances.get(None), "server_process", None)
            yield PREFECT_API_URL.value()
    finally:
        if server is not None:
            stop(server, grace=10, group=False)


def git_dvc_repo(path, files: dict[str, str]):
    """A git repository with DVC initialised, ``files`` written and committed."""
    path = Path(path)
    path.mkdir(parents=True, exist_ok=True)
    env = GIT_ENV
    subprocess.run(["git", "init", "-q", "-b", "main"], cwd=path, check=True)
    subprocess.run(["git", "config", "user.email", "t@t"], cwd=path, check=True)
    subprocess.run(["git", "config", "user.name", "t"], cwd=path, check=True)
    subprocess.run([dvc_bin(), "init", "-q"], cwd=path, check=True, env=env)
    subprocess.run([dvc_bin(), "config", "core.analytics", "false"], cwd=path, check=True)
    for name, text in files.items():
        (path / name).parent.mkdir(parents=True, exist_ok=True)
        (path / name).write_text(text, encoding="utf-8")
    subprocess.run(["git", "add", "-A"], cwd=path, check=True)
    subprocess.run(["git", "commit", "-qm", "init"], cwd=path, check=True, env=env)
    return path


def dvc_bin() -> str:
    from capo_pipelines._stage import tool

    return tool("dvc")


def copy_worktree(dest: Path) -> Path:
    """Tracked and untracked-but-not-ignored files of this checkout, as a fresh git repo."""
    files = subprocess.run(
        ["git", "ls-files", "-co", "--exclude-standard", "-z"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split("\0")
    for rel in filter(None, files):
        src = ROOT / rel
        if src.is_file():
            (dest / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dest / rel)
    for args in (
        ["git", "init", "-q", "-b", "main"],
        ["git", "add", "-A"],
        ["git", "commit", "-qm", "copy"],
    ):
        subprocess.run(args, cwd=dest, check=True, env=GIT_ENV, capture_output=True)
    return dest


@pytest.fixture
def hub_uploads(monkeypatch):
    """The Hub client's two upload calls replaced by recorders (the only mock the tests use),
    and a token in HF_TOKEN. Each upload_folder record lists the files the real call would
    upload: the folder's files through the Hub client's own allow/ignore pattern filter."""
    from huggingface_hub import HfApi
    from huggingface_hub.utils import filter_repo_objects

    calls: list[dict] = []

    def create_repo(self, repo_id, **kwargs):
        calls.append({"call": "create_repo", "repo_id": repo_id, **kwargs})

    def upload_folder(self, *, repo_id, folder_path, **kwargs):
        folder = Path(folder_path)
        paths = sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file())
        files = filter_repo_objects(
            paths,
            allow_patterns=kwargs.get("allow_patterns"),
            ignore_patterns=kwargs.get("ignore_patterns"),
        )
        record = {"call": "upload_folder", "repo_id": repo_id, "folder": folder, **kwargs}
        calls.append({**record, "files": sorted(files)})

    monkeypatch.setattr(HfApi, "create_repo", create_repo)
    monkeypatch.setattr(HfApi, "upload_folder", upload_folder)
    monkeypatch.setenv("HF_TOKEN", "hf_test_token_not_sent_anywhere")
    return calls
