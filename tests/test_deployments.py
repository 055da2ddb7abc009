"""prefect.yaml's deployments: capo-remote runs on a worker anywhere (a clone of the repository,
installed into the flow run's own Python), and every deployment lets one run go at a time: a
second run waits, AwaitingConcurrencySlot, until the first has ended. The limit is shown on a
real server with a real process worker and a flow that holds its run until the test lets it
go (the pipeline itself would take minutes per run); the deployment gets its limit from
prefect.yaml's capo-nightly entry, through `prefect deploy`, as a user's deployment does.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from capo_pipelines.serve import ENTRYPOINT, load_deployment
from tests._procs import run, running
from tests.conftest import GIT_ENV, copy_worktree

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
PREFECT_YAML = ROOT / "prefect.yaml"
GIT_CLONE = "prefect.deployments.steps.git_clone"
PIP_INSTALL = "prefect.deployments.steps.pip_install_requirements"

# A flow that runs until the file `hold` is gone: the test decides when a run ends.
GATE = """
import time
from pathlib import Path

from prefect import flow


@flow
def gate(hold: str) -> None:
    while Path(hold).exists():
        time.sleep(0.2)
"""


def _step(step: dict) -> tuple[str, dict]:
    ((name, args),) = step.items()
    return name, args


def test_every_deployment_lets_one_run_at_a_time():
    deployments = yaml.safe_load(PREFECT_YAML.read_text(encoding="utf-8"))["deployments"]
    assert {d["name"] for d in deployments} == {"capo-nightly", "capo-remote"}
    for deployment in deployments:
        assert deployment.get("concurrency_limit") == 1, deployment["name"]


def test_capo_remote_clones_main_and_installs_the_clone():
    nightly = load_deployment(PREFECT_YAML, "capo-nightly")
    remote = load_deployment(PREFECT_YAML, "capo-remote")
    assert remote["entrypoint"] == nightly["entrypoint"] == ENTRYPOINT
    clone, install = remote["pull"]  # its own: not the top-level set_working_directory
    name, args = _step(clone)
    assert name == GIT_CLONE and args["branch"] == "main"
    assert args["repository"] == "{{ prefect.variables.capo_repository }}"
    name, install_args = _step(install)
    assert name == PIP_INSTALL and install_args["directory"] == f"{{{{ {args['id']}.directory }}}}"
    lines = (ROOT / install_args["requirements_file"]).read_text(encoding="utf-8").splitlines()
    assert [x for x in lines if x.strip() and not x.startswith("#")] == [".", "./pipelines"]
    # a worker for remote runs takes its own queue of the pool, never capo-nightly's runs
    assert remote["work_pool"]["name"] == nightly["work_pool"]["name"]
    assert remote["work_pool"]["work_queue_name"] not in (None, "default")
    assert "work_queue_name" not in nightly["work_pool"]
    # one nightly run, not two: capo-remote's schedule is there to be turned on instead
    assert [s["active"] for s in remote["schedules"]] == [False]
    assert [s["active"] for s in nightly["schedules"]] == [True]


@pytest.mark.slow
def test_capo_remote_pull_steps_clone_the_repository_a_variable_names(prefect_server, tmp_path):
    """The clone step as the worker runs it, the variable read from the server at run time;
    then the install step's requirements, installed from the clone's root into a folder of
    their own (the real step installs into the flow run's Python: here the test's own)."""
    from prefect.deployments.steps.core import run_steps
    from prefect.variables import Variable

    origin = copy_worktree(tmp_path / "origin")  # this checkout, committed on main
    steps = load_deployment(PREFECT_YAML, "capo-remote")["pull"]
    Variable.set("capo_repository", str(origin), overwrite=True)
    work = tmp_path / "run"
    work.mkdir()
    here = os.getcwd()
    os.chdir(work)  # git_clone clones into the working directory, as in a flow run
    try:
        out = asyncio.run(run_steps(steps[:1]))
    finally:
        os.chdir(here)
        Variable.unset("capo_repository")
    clone = work / out["directory"]
    assert (clone / ENTRYPOINT.split(":")[0]).is_file()
    head = ["git", "rev-parse", "HEAD"]
    assert run(head, 60, cwd=clone).stdout == run(head, 60, cwd=origin).stdout

    _, install = _step(steps[1])
    site = tmp_path / "site"
    pip = [sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--no-build-isolation"]
    proc = run([*pip, "--target", str(site), "-r", install["requirements_file"]], 600, cwd=clone)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert not (site / "pipelines").exists()  # the workflow installs as capo_pipelines only
    probe = (
        "import capo, capo_pipelines.flows as f, capo_pipelines.lm_eval_tasks as t; "
        "print(capo.__file__, f.__file__, t.TASK_DIR, sep='\\n')"
    )
    env = {**GIT_ENV, "PYTHONPATH": str(site)}
    shown = run([sys.executable, "-c", probe], 300, cwd=tmp_path, env=env)
    assert shown.returncode == 0, shown.stderr
    for path in shown.stdout.split():
        assert Path(path).is_relative_to(site), shown.stdout  # the clone's code, installed
    assert sorted(Path(shown.stdout.split()[2]).glob("*.yaml"))  # its task files came along


async def _deploy_gate(prefect_server: str, folder: Path, pool: str):
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.actions import WorkPoolCreate

    async with get_client() as client:
        await client.create_work_pool(WorkPoolCreate(name=pool, type="process"), overwrite=True)
    env = {**os.environ, "PREFECT_API_URL": prefect_server}
    out = run([str(BIN / "prefect"), "--no-prompt", "deploy", "--all"], 600, cwd=folder, env=env)
    assert out.returncode == 0, out.stdout + out.stderr
    async with get_client() as client:
        deployment = await client.read_deployment_by_name("gate/gate")
        runs = [await client.create_flow_run_from_deployment(deployment.id) for _ in range(2)]
    return deployment, [r.id for r in runs]


async def _read_runs(ids):
    from prefect.client.orchestration import get_client

    async with get_client() as client:
        return [await client.read_flow_run(i) for i in ids]


async def _state_names(run_id) -> list[str]:
    from prefect.client.orchestration import get_client

    async with get_client() as client:
        return [s.name for s in await client.read_flow_run_states(run_id)]


@pytest.mark.slow
@pytest.mark.timeout(1500)
def test_a_second_run_waits_until_the_first_has_ended(prefect_server, tmp_path):
    limits = {
        k: v for k, v in load_deployment(PREFECT_YAML, "capo-nightly").items() if "concurr" in k
    }
    folder = tmp_path / "gate"
    folder.mkdir()
    (folder / "gate.py").write_text(GATE, encoding="utf-8")
    hold = folder / "hold"
    hold.touch()
    pool = "capo-gate"
    spec = {
        "name": "gate",
        "build": None,
        "push": None,
        "pull": [{"prefect.deployments.steps.set_working_directory": {"directory": str(folder)}}],
        "deployments": [
            {
                "name": "gate",
                "entrypoint": "gate.py:gate",
                "parameters": {"hold": str(hold)},
                "work_pool": {"name": pool},
                **limits,  # capo-nightly's concurrency settings, as prefect.yaml has them
            }
        ],
    }
    (folder / "prefect.yaml").write_text(yaml.safe_dump(spec), encoding="utf-8")
    deployment, ids = asyncio.run(_deploy_gate(prefect_server, folder, pool))
    assert deployment.global_concurrency_limit is not None, "no concurrency limit deployed"
    assert deployment.global_concurrency_limit.limit == 1

    env = {**os.environ, "PREFECT_API_URL": prefect_server, "PREFECT_WORKER_QUERY_SECONDS": "1"}
    log_path = tmp_path / "worker.log"
    worker = [str(BIN / "prefect"), "worker", "start", "--pool", pool]
    with (
        log_path.open("w") as log,
        running(worker, cwd=tmp_path, env=env, stdout=log, stderr=subprocess.STDOUT),
    ):
        deadline = time.monotonic() + 900
        while True:  # until one run holds the slot and the other has been turned away
            runs = asyncio.run(_read_runs(ids))
            active = [r for r in runs if r.state.is_running()]
            assert len(active) < 2, "both runs of the limited deployment ran at once"
            if active:
                (other,) = [r for r in runs if r.id != active[0].id]
                if "AwaitingConcurrencySlot" in asyncio.run(_state_names(other.id)):
                    assert other.state.is_scheduled(), other.state
                    break
            assert time.monotonic() < deadline, log_path.read_text()[-3000:]
            time.sleep(1)
        hold.unlink()  # the first run ends; the waiting one gets the slot
        deadline = time.monotonic() + 600
        while not all(r.state.is_final() for r in asyncio.run(_read_runs(ids))):
            assert time.monotonic() < deadline, log_path.read_text()[-3000:]
            time.sleep(1)
    runs = asyncio.run(_read_runs(ids))
    assert all(r.state.is_completed() for r in runs), [r.state for r in runs]
    first, second = sorted(runs, key=lambda r: r.start_time)
    assert first.end_time <= second.start_time  # one after the other, never overlapping
    assert "AwaitingConcurrencySlot" in asyncio.run(_state_names(second.id))
