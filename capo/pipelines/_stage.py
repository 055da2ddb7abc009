"""Shared plumbing for stage entry points: logging set-up and clean exits on user errors."""

from __future__ import annotations

import logging
import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

from capo.errors import CapoError
from capo.params import ParamsError

__all__ = ["output", "run_stage", "tool", "tool_env"]


def run_stage(name: str, main: Callable[[], None]) -> None:
    """Run a stage's main(); a CapoError/ParamsError exits 2 with one line, no traceback."""
    logging.basicConfig(
        level=os.environ.get("CAPO_LOG_LEVEL", "INFO"),
        format=f"%(asctime)s {name} %(levelname)s %(message)s",
        datefmt="%H:%M:%S",
    )
    try:
        main()
    except (CapoError, ParamsError) as err:
        print(f"{name}: error: {err}", file=sys.stderr)
        raise SystemExit(2) from None


def tool(name: str) -> str:
    """The console script ``name`` (dvc, gto, ...) next to this interpreter, else from PATH."""
    return shutil.which(name, path=str(Path(sys.executable).parent)) or name


def tool_env(base: dict[str, str] | None = None) -> dict[str, str]:
    """``base`` (default: os.environ) with this interpreter's directory first on PATH.

    DVC runs a stage's ``cmd`` (``python -m pipelines.<stage>``) with the caller's PATH, so a
    `dvc repro` started from a Prefect worker or `capo` that was not activated would run the
    machine's own Python, which lacks torch. Subprocesses that run stages get this env.
    """
    env = dict(os.environ if base is None else base)
    env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")])
    return env


def output(args: list[str], cwd: Path | str = ".") -> str:
    """stdout of a command (git, dvc, gto); a CapoError with its message if it fails."""
    proc = subprocess.run(args, cwd=cwd, capture_output=True, text=True)
    if proc.returncode != 0:
        raise CapoError(f"`{' '.join(args)}` failed: {(proc.stderr or proc.stdout).strip()}")
    return proc.stdout
