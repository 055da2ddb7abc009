"""Publish the report's PNGs on a git branch, where a GitHub PR comment can display them.

A comment cannot embed images (GitHub drops data URIs) and an Actions artifact is a zip, not
an image URL. So the PNGs are committed to a branch of their own (default ``capo-pr-reports``)
with git plumbing only, a temporary index and no checkout, and pushed; the comment links
``https://github.com/OWNER/REPO/raw/<commit>/<dir>/<file>``, an immutable address that
GitHub shows to everyone who can read the repository (private ones included). The working
tree, the index and the current branch are never touched.
"""

from __future__ import annotations

import os
import subprocess
import tempfile
from pathlib import Path

from capo.errors import CapoError

__all__ = ["publish_files"]

IDENTITY = {"GIT_AUTHOR_NAME": "capo report", "GIT_AUTHOR_EMAIL": "capo-report@localhost"}


def _git(repo: Path, *args: str, env: dict[str, str] | None = None) -> str:
    proc = subprocess.run(["git", *args], cwd=repo, capture_output=True, text=True, env=env)
    if proc.returncode != 0:
        raise CapoError(f"`git {' '.join(args[:3])}` failed: {proc.stderr.strip()[-500:]}")
    return proc.stdout.strip()


def _env(index: Path, repo: Path) -> dict[str, str]:
    env = {**os.environ, "GIT_INDEX_FILE": str(index)}
    for var, default in IDENTITY.items():  # commit-tree needs an identity; CI may have none
        key = "user.name" if var.endswith("NAME") else "user.email"
        configured = subprocess.run(["git", "config", key], cwd=repo, capture_output=True)
        if not configured.stdout.strip():
            env.setdefault(var, default)
            env.setdefault(var.replace("AUTHOR", "COMMITTER"), default)
    return env


def publish_files(
    repo: Path, files: list[Path], *, branch: str, remote: str, directory: str
) -> str:
    """Commit ``files`` under ``directory`` on ``branch`` of ``remote``; returns the commit."""
    fetched = subprocess.run(
        ["git", "fetch", "--quiet", remote, f"+refs/heads/{branch}:refs/remotes/{remote}/{branch}"],
        cwd=repo,
        capture_output=True,
    )
    parent = (
        _git(repo, "rev-parse", f"refs/remotes/{remote}/{branch}")
        if fetched.returncode == 0
        else None
    )
    with tempfile.TemporaryDirectory() as tmp:
        env = _env(Path(tmp) / "index", repo)
        if parent:
            _git(repo, "read-tree", parent, env=env)
        for path in files:
            blob = _git(repo, "hash-object", "-w", str(path))
            entry = f"100644,{blob},{directory}/{path.name}"
            _git(repo, "update-index", "--add", "--cacheinfo", entry, env=env)
        tree = _git(repo, "write-tree", env=env)
        message = f"capo report: {directory}"
        args = ["commit-tree", tree, "-m", message, *(["-p", parent] if parent else [])]
        commit = _git(repo, *args, env=env)
    _git(repo, "push", "--quiet", remote, f"{commit}:refs/heads/{branch}")
    return commit
