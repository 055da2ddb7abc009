"""Child processes that never outlive the test that started them.

    with running([capo, "serve"], cwd=tmp_path) as proc:
        ...  # however this block is left, proc and its children are gone afterwards

Each child starts in a process group of its own, and leaving the block sends the whole group
SIGTERM, then SIGKILL after ``grace`` seconds, and reaps it. SIGTERM, not SIGINT: a suite run
from a non-interactive shell (``pytest &``) starts its children with SIGINT ignored, so a
SIGINT would leave ``capo serve`` running. The group reaches what the child started too
(a worker's flow run, a stage's ``python``).
"""

from __future__ import annotations

import os
import signal
import subprocess
from collections.abc import Iterator, Sequence
from contextlib import contextmanager, suppress
from typing import Any

__all__ = ["run", "running", "stop"]


@contextmanager
def running(args: Sequence[str], grace: float = 60, **popen: Any) -> Iterator[subprocess.Popen]:
    """``Popen(args, **popen)`` in its own process group, stopped (see ``stop``) on exit."""
    with subprocess.Popen(args, start_new_session=True, **popen) as proc:  # closes its pipes
        try:
            yield proc
        finally:
            stop(proc, grace)


def stop(proc: subprocess.Popen, grace: float = 60, group: bool = True) -> None:
    """SIGTERM ``proc`` (its group when ``group``), SIGKILL after ``grace`` seconds, reap it,
    then SIGKILL whatever is left of the group. ``group=False`` for a child that some library
    started in our own group (then only the child itself is signalled)."""
    if proc.poll() is None:
        _signal(proc, signal.SIGTERM, group)
        try:
            proc.wait(timeout=grace)
        except subprocess.TimeoutExpired:
            _signal(proc, signal.SIGKILL, group)
            proc.wait(timeout=30)
    if group:
        _signal(proc, signal.SIGKILL, group)  # children that outlived it


def run(args: Sequence[str], timeout: float, **popen: Any) -> subprocess.CompletedProcess:
    """Like ``subprocess.run(args, capture_output=True, text=True, timeout=timeout)``, but a
    timeout or an interrupt stops the child's whole process group."""
    with running(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, **popen) as p:
        out, err = p.communicate(timeout=timeout)
    return subprocess.CompletedProcess(p.args, p.returncode, out, err)


def _signal(proc: subprocess.Popen, sig: int, group: bool) -> None:
    with suppress(ProcessLookupError, PermissionError):
        if group:
            os.killpg(proc.pid, sig)  # the group's id is the leader's pid (start_new_session)
        elif proc.poll() is None:
            proc.send_signal(sig)
