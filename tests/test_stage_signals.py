"""A stopped stage exits cleanly: SIGTERM is exit 143, its finally blocks run, and nothing it
started outlives it (the study's temporary Prefect server and Dask workers included).

Real processes throughout: each test starts the stage as a subprocess, collects the pids of
everything below it while it runs, sends SIGTERM to the stage alone (not its process group:
that would stop the children itself) and checks afterwards that every one of them is gone.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time

import psutil
import pytest

from tests.conftest import ROOT, git_dvc_repo
from tests.test_study_engine import _params as study_params

# A stage-like entry point: main() starts a child and, through a shell, a grandchild, enters a
# context manager whose exit leaves a mark, prints the pids and waits to be stopped.
STAGE = """
import contextlib, subprocess, sys, time
from pathlib import Path
from capo_pipelines._stage import run_stage

@contextlib.contextmanager
def marked(path):
    try:
        yield
    finally:
        Path(path).write_text("closed")

def main():
    child = subprocess.Popen(["sleep", "300"])
    shell = subprocess.Popen(["sh", "-c", "sleep 301 & wait"])
    with marked(sys.argv[1]):
        print("ready", child.pid, shell.pid, flush=True)
        time.sleep(300)

run_stage("sleeper", main)
"""


def _env(**extra: str) -> dict[str, str]:
    env = {**os.environ, **extra}
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])
    return env


def _tree(pid: int) -> list[psutil.Process]:
    return psutil.Process(pid).children(recursive=True)


def _alive(proc: psutil.Process) -> bool:
    try:
        return proc.is_running() and proc.status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def _left(procs: list[psutil.Process], within: float) -> list[str]:
    """The processes of ``procs`` still running after ``within`` seconds (an orphan is reaped
    by init a moment after it dies), each as 'pid command line'."""
    deadline = time.monotonic() + within
    while any(_alive(p) for p in procs) and time.monotonic() < deadline:
        time.sleep(0.1)
    left = []
    for p in procs:
        if _alive(p):
            try:
                left.append(f"{p.pid} {' '.join(p.cmdline())[:150]}")
            except psutil.Error:
                left.append(str(p.pid))
    return left


def _kill(procs: list[psutil.Process]) -> None:
    """Whatever a failing test left running."""
    for p in procs:
        if _alive(p):
            with contextlib.suppress(psutil.Error):
                p.kill()


def test_sigterm_exits_143_after_cleanup_with_no_child_left(tmp_path):
    script, mark, log = tmp_path / "stage.py", tmp_path / "closed", tmp_path / "stderr"
    script.write_text(STAGE)
    with log.open("w") as stderr:  # a file: a pipe would wait for the children too
        proc = subprocess.Popen(
            [sys.executable, str(script), str(mark)],
            cwd=tmp_path,
            env=_env(),
            stdout=subprocess.PIPE,
            stderr=stderr,
            text=True,
        )
    tree: list[psutil.Process] = []
    try:
        line = proc.stdout.readline()
        assert line.startswith("ready"), (line, log.read_text())
        deadline = time.monotonic() + 10
        while len(tree) < 3 and time.monotonic() < deadline:  # sleep, sh and sh's sleep
            tree = _tree(proc.pid)
            time.sleep(0.05)
        assert {"sleep", "sh"} <= {p.name() for p in tree}, tree
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=60)
        err = log.read_text()
        assert proc.returncode == 143, err  # killed by the signal it would be -15
        assert mark.read_text() == "closed"  # the context manager's exit ran
        assert "sleeper: stopping (SIGTERM)" in err and "Traceback" not in err, err
        assert not _left(tree, within=10)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        proc.stdout.close()
        _kill(tree)


@pytest.mark.slow
def test_a_stopped_study_leaves_no_server_or_worker_behind(tmp_path):
    """The study stage on the dask engine with no PREFECT_API_URL starts a temporary Prefect
    server (uvicorn) and a local cluster of worker processes; SIGTERM while trials run stops
    them all (before the fix the uvicorn server lived on, re-parented to init)."""
    params, work, out = study_params(tmp_path, "dask"), tmp_path / "work", tmp_path / "out"
    cmd = [sys.executable, "-m", "capo_pipelines.study", "--params", str(params)]
    cmd += ["--work-dir", str(work), "--out-json", str(out / "s.json")]
    cmd += ["--out-md", str(out / "s.md"), "--figure", str(out / "s.png")]
    env = _env(PREFECT_HOME=str(tmp_path / "prefect-home"), TQDM_DISABLE="1")
    env["PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS"] = "600"  # a new database, busy CPUs
    env.pop("PREFECT_API_URL", None)  # the stage starts its own temporary server
    log = tmp_path / "stage.log"
    attempts = work / "store" / "attempts.jsonl"
    tree: list[psutil.Process] = []
    with log.open("w") as stderr:
        proc = subprocess.Popen(cmd, cwd=tmp_path, env=env, stdout=stderr, stderr=stderr)
    try:
        deadline = time.monotonic() + 900  # a busy machine: imports alone can take minutes
        while time.monotonic() < deadline:  # the cluster is up and a trial has started
            assert proc.poll() is None, log.read_text()[-3000:]
            started = attempts.is_file() and attempts.read_text().strip()
            if started and "noise study on Dask" in log.read_text():
                break
            time.sleep(0.2)
        else:
            pytest.fail(f"no trial started in 900 s:\n{log.read_text()[-3000:]}")
        tree = _tree(proc.pid)
        commands = [" ".join(p.cmdline()) for p in tree]
        assert any("uvicorn" in c for c in commands), commands  # the temporary Prefect server
        assert sum("multiprocessing" in c for c in commands) >= 2, commands  # Dask workers
        trial = json.loads(attempts.read_text().splitlines()[0])["name"]
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=120)
        text = log.read_text()
        left = _left(tree, within=30)
        assert not left, f"left running after {trial}: {left}\n{text[-3000:]}"
        assert proc.returncode == 143, text[-3000:]
        assert "study: stopping (SIGTERM)" in text
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        _kill(tree)


SLOW_DVC = """
stages:
  slow:
    cmd: python slow.py
    deps: [slow.py]
    outs: [slow.txt]
"""
SLOW = """import pathlib, time
pathlib.Path("started").write_text("yes")
time.sleep(300)
pathlib.Path("slow.txt").write_text("done")
"""


@pytest.mark.slow
def test_a_stopped_flow_leaves_no_server_dvc_or_stage_behind(tmp_path):
    """`python -m capo_pipelines.flows` with no PREFECT_API_URL starts a temporary Prefect
    server (uvicorn), then `dvc repro`, which starts the stage; SIGTERM while the stage runs
    stops all three (before the fix the server lived on, re-parented to init)."""
    repo = git_dvc_repo(tmp_path / "repo", {"dvc.yaml": SLOW_DVC, "slow.py": SLOW})
    env = _env(PREFECT_HOME=str(tmp_path / "prefect-home"))
    env["PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS"] = "600"  # a new database, busy CPUs
    env.pop("PREFECT_API_URL", None)  # the flow starts its own temporary server
    log = tmp_path / "flow.log"
    tree: list[psutil.Process] = []
    with log.open("w") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "capo_pipelines.flows", "--repo", str(repo)],
            cwd=tmp_path,
            env=env,
            stdout=out,
            stderr=out,
        )
    try:
        deadline = time.monotonic() + 600
        while not (repo / "started").is_file():  # the stage runs under dvc repro
            assert proc.poll() is None, log.read_text()[-3000:]
            if time.monotonic() > deadline:
                pytest.fail(f"the stage did not start in 600 s:\n{log.read_text()[-3000:]}")
            time.sleep(0.2)
        tree = _tree(proc.pid)
        commands = [" ".join(p.cmdline()) for p in tree]
        assert any("uvicorn" in c for c in commands), commands  # the temporary Prefect server
        assert any("slow.py" in c for c in commands), commands  # the stage, under dvc
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=120)
        text = log.read_text()
        left = _left(tree, within=30)
        assert not left, f"left running: {left}\n{text[-3000:]}"
        assert proc.returncode == 143, text[-3000:]
        assert "capo-pipeline: stopping (SIGTERM)" in text
        assert not (repo / "slow.txt").exists()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        _kill(tree)
