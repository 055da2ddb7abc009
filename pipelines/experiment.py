"""Run the pipeline with params overrides as a DVC experiment, leaving the checkout untouched.

    with experiment_workspace(Path(".")) as ws:      # a clone sharing the DVC cache
        apply_overrides(ws / "params.yaml", ["loss.gamma=2.0"])
        ...                                          # run the stages in ws
        save_experiment(ws, Path("."), "gamma2")     # `dvc exp show` / `dvc exp apply gamma2`

This is what `dvc exp run --temp -S ...` does, but with the stages run one by one (as Prefect
tasks): the clone starts at HEAD plus the checkout's uncommitted changes to tracked files,
its outputs come from the shared cache, and its result is saved with `dvc exp save` and
fetched into the repository's experiment refs. params.yaml, dvc.lock and every output of the
checkout stay as they were; nothing is left behind but the experiment ref and cache entries.
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from capo.errors import CapoError
from capo_pipelines._stage import tool, tool_env

__all__ = ["experiment_workspace", "save_experiment"]

IDENTITY = {"user.name": "capo-pipeline", "user.email": "capo-pipeline@localhost"}


def _run(args: list[str], cwd: Path, stdin: str | None = None) -> str:
    proc = subprocess.run(
        args, cwd=cwd, input=stdin, capture_output=True, text=True, env=tool_env()
    )
    if proc.returncode != 0:
        raise CapoError(f"`{' '.join(args[:4])}` failed in {cwd}: {proc.stderr.strip()[-800:]}")
    return proc.stdout


def _cache_dir(repo: Path) -> str:
    """The repository's DVC cache directory (absolute), as `dvc cache dir` reports it."""
    return _run([tool("dvc"), "cache", "dir"], repo).strip()


def _prepare(repo: Path, ws: Path) -> None:
    head = _run(["git", "rev-parse", "HEAD"], repo).strip()
    _run(["git", "clone", "--quiet", "--shared", "--no-checkout", str(repo), str(ws)], repo)
    _run(["git", "checkout", "--quiet", "--detach", head], ws)
    diff = _run(["git", "diff", "--binary", "HEAD"], repo)
    if diff:
        _run(["git", "apply", "--whitespace=nowarn", "-"], ws, stdin=diff)
    for key, default in IDENTITY.items():
        if not subprocess.run(["git", "config", key], cwd=repo, capture_output=True).stdout:
            _run(["git", "config", key, default], ws)
    local = repo / ".dvc" / "config.local"
    if local.is_file():
        shutil.copy2(local, ws / ".dvc" / "config.local")
    dvc = tool("dvc")
    _run([dvc, "config", "--local", "cache.dir", _cache_dir(repo)], ws)
    _run([dvc, "config", "--local", "cache.type", "reflink,hardlink,copy"], ws)
    _run([dvc, "config", "--local", "core.analytics", "false"], ws)
    _run([dvc, "checkout", "--quiet", "--allow-missing"], ws)


@contextmanager
def experiment_workspace(repo: Path) -> Iterator[Path]:
    """A throw-away clone of ``repo`` (under .dvc/tmp, git-ignored) that shares its DVC cache."""
    tmp_root = repo / ".dvc" / "tmp"
    tmp_root.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix="capo-exp-", dir=tmp_root))
    try:
        _prepare(repo, tmp / "ws")
        yield tmp / "ws"
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def save_experiment(ws: Path, repo: Path, name: str) -> str:
    """`dvc exp save` the root pipeline of ``ws`` as ``name``; fetch the ref into ``repo``.

    Only dvc.yaml's stages are saved: other pipelines (studies/) need not have run.
    Returns the experiment's git ref.
    """
    _run([tool("dvc"), "exp", "save", "--force", "--name", name, "dvc.yaml"], ws)
    refs = _run(["git", "for-each-ref", "--format=%(refname)", "refs/exps"], ws).split()
    (ref,) = [r for r in refs if r.endswith(f"/{name}") and not r.startswith("refs/exps/exec/")]
    _run(["git", "fetch", "--quiet", "--no-tags", str(ws), f"+{ref}:{ref}"], repo)
    return ref
