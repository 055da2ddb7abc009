"""tests/_procs.py: a child (and what it started) is gone however the test leaves it."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests._procs import run, running

# Ignores SIGINT, as a child of a shell's background job (`pytest &`) does.
NO_SIGINT = "import signal, time; signal.signal(signal.SIGINT, signal.SIG_IGN); time.sleep(600)"
# Ignores SIGINT and SIGTERM, and starts a grandchild that ignores them too; prints its pid.
STUBBORN = (
    "import signal, subprocess, sys, time\n"
    "for s in (signal.SIGINT, signal.SIGTERM): signal.signal(s, signal.SIG_IGN)\n"
    "child = subprocess.Popen([sys.executable, '-c', "
    "'import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); time.sleep(600)'])\n"
    "print(child.pid, flush=True)\n"
    "time.sleep(600)\n"
)


def _alive(pid: int) -> bool:
    """True while ``pid`` runs (a zombie waiting for its parent counts as gone)."""
    stat = Path(f"/proc/{pid}/stat")
    if stat.exists():
        try:
            return stat.read_text().rsplit(")", 1)[1].split()[0] != "Z"
        except (FileNotFoundError, ProcessLookupError):
            return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def _gone_soon(pid: int) -> bool:
    for _ in range(50):  # an orphan is reaped by init a moment after it dies
        if not _alive(pid):
            return True
        time.sleep(0.1)
    return False


def test_a_child_that_ignores_sigint_is_gone_when_the_test_fails():
    with pytest.raises(RuntimeError), running([sys.executable, "-c", NO_SIGINT]) as proc:
        time.sleep(0.5)  # let it install its handler
        raise RuntimeError("the test failed")
    assert proc.returncode is not None and not _alive(proc.pid)


def test_a_child_that_ignores_sigterm_is_killed_with_its_grandchild():
    start = time.monotonic()
    with (
        pytest.raises(RuntimeError),
        running([sys.executable, "-c", STUBBORN], grace=1, stdout=subprocess.PIPE) as proc,
    ):
        grandchild = int(proc.stdout.readline())
        assert _alive(grandchild)
        raise RuntimeError("the test failed")
    assert proc.returncode == -9  # SIGTERM ignored: killed after the grace period
    assert _gone_soon(grandchild)
    assert time.monotonic() - start < 30


def test_run_stops_the_child_on_timeout_and_returns_its_output_otherwise():
    with pytest.raises(subprocess.TimeoutExpired):
        run([sys.executable, "-c", STUBBORN], timeout=2, grace=1)
    done = run([sys.executable, "-c", "print('hi'); import sys; sys.exit(3)"], timeout=60)
    assert (done.returncode, done.stdout) == (3, "hi\n")
