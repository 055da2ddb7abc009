"""The README's first command, `make pipeline`, in a fresh copy with nothing activated.

DVC runs each stage's `python -m capo_pipelines.<stage>` with the caller's PATH. On a fresh
machine `python` is the system's (no torch), so `make pipeline` must put the project's
environment first itself. This test runs it the way a new user does: a copy of the
repository, no VIRTUAL_ENV, no project environment on PATH, a reduced params profile. The
copy's `.venv` is a link to the environment running the tests (made by scripts/setup.sh),
so set-up finds it installed instead of installing for minutes.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import GIT_ENV, ROOT, copy_worktree

pytestmark = pytest.mark.slow
# what scripts/setup.sh hashes into its stamp, read from its `want=$(cat ... | sha256sum` line
SETUP_INPUTS = tuple(
    re.search(r"want=\$\(cat ([^|]+)\|", (ROOT / "scripts/setup.sh").read_text())[1].split()
)

TINY = [
    "ingest.benchmark.train_pairs=180",
    "ingest.benchmark.test_pairs=90",
    "ingest.benchmark.max_number=99",  # few SFT demonstrations (9 languages x ~70 numbers)
    "policy.hidden_size=32",
    "policy.num_layers=1",
    "policy.num_heads=2",
    "policy.vocab_size=600",
    "policy.sft_epochs=1.0",
    "train.losses=[capo,sigmoid]",
    "train.max_steps=2",
    "train.save_steps=2",
    "evaluate.max_new_tokens=4",
    "evaluate.reference_generation=false",
    "evaluate.max_empty_rate=1.0",  # a model this small may not answer: the gate must let it
    "evaluate.max_generation_drop=1.0",
    "register.min_reward_accuracy=0.0",
    "register.language_floor=0.0",
    "register.min_gain_over_baseline=-1.0",
]


def _bare_env() -> dict[str, str]:
    """The caller's environment as on a fresh machine: no virtualenv, venv dirs off PATH."""
    prefix = Path(sys.prefix).resolve()
    keep = [
        p
        for p in os.environ.get("PATH", "").split(os.pathsep)
        if p and not Path(p).resolve().is_relative_to(prefix)
    ]
    env = {k: v for k, v in GIT_ENV.items() if k not in ("VIRTUAL_ENV", "CONDA_PREFIX")}
    env["PATH"] = os.pathsep.join(keep)
    return env


def _installed_here() -> bool:
    """True when this environment's set-up stamp matches the checkout (scripts/setup.sh).

    Otherwise `make pipeline` in the copy would reinstall capo, editable, from the copy, into
    the environment running these tests.
    """
    stamp = Path(sys.prefix) / ".capo-installed"
    want = hashlib.sha256(b"".join((ROOT / f).read_bytes() for f in SETUP_INPUTS)).hexdigest()
    return stamp.is_file() and stamp.read_text().strip() == want[:16]


def test_make_pipeline_works_with_nothing_activated(tmp_path):
    if not _installed_here():
        message = "needs the environment made by scripts/setup.sh for this checkout: make test"
        if os.environ.get("CI"):
            pytest.fail(f"CI must run the fresh-clone test: {message}")
        pytest.skip(message)
    from dvc.utils.hydra import apply_overrides

    repo = copy_worktree(tmp_path / "clone")
    apply_overrides(repo / "params.yaml", TINY)
    (repo / ".venv").symlink_to(sys.prefix, target_is_directory=True)
    env = _bare_env()
    which = subprocess.run(
        ["bash", "-c", "command -v python || true"], env=env, text=True, capture_output=True
    ).stdout.strip()
    assert not which.startswith(str(repo)) and not which.startswith(sys.prefix), which
    proc = subprocess.run(["make", "pipeline"], cwd=repo, env=env, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert "ModuleNotFoundError" not in proc.stderr
    for loss in ("capo", "sigmoid"):
        metrics = json.loads((repo / "metrics" / f"{loss}.json").read_text())
        assert metrics["overall"]["pairs"] > 0
    assert (repo / "models/registry/capo-policy/README.md").is_file()
