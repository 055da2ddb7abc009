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

__all__ = ["QUIET_LOGGERS", "output", "quiet_loggers", "run_stage", "tool", "tool_env"]

# libraries whose INFO lines are one per request or per cluster event: WARNING and up unless
# CAPO_LOG_LEVEL=DEBUG (distributed resets its level on import: see quiet_loggers)
QUIET_LOGGERS = ("httpx", "httpcore", "distributed")


def run_stage(name: str, main: Callable[[], None]) -> None:
    """Run a stage's main(); a CapoError (ParamsError too) exits 2 with one line, no traceback."""
    logging.basicConfig(
        level=os.environ.get("CAPO_LOG_LEVEL", "INFO"),
        format=f"%(asctime)s {name} %(levelname)s %(message)s",
        datefmt="%H:%M:%S",
    )
    quiet_loggers()
    try:
        main()
    except CapoError as err:
        print(f"{name}: error: {err}", file=sys.stderr)
        raise SystemExit(2) from None


def quiet_loggers() -> None:
    """QUIET_LOGGERS at WARNING, unless the root logger is at DEBUG; again after an import
    that sets its own levels (distributed)."""
    if logging.getLogger().getEffectiveLevel() > logging.DEBUG:
        for noisy in QUIET_LOGGERS:
            logging.getLogger(noisy).setLevel(logging.WARNING)


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
