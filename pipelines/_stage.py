"""Shared plumbing for stage entry points: logging set-up and clean exits on user errors."""

from __future__ import annotations

import logging
import os
import shutil
import sys
from collections.abc import Callable
from pathlib import Path

from capo.errors import CapoError
from capo.params import ParamsError

__all__ = ["run_stage", "tool"]


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
