"""prefect.yaml deploys for workers; `capo serve` beside it leaves that deployment alone."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from capo_pipelines.serve import load_deployment
from tests._procs import run, running

pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent


async def _read(name: str):
    from prefect.client.orchestration import get_client
    from prefect.exceptions import ObjectNotFound

    async with get_client() as client:
        try:
            return await client.read_deployment_by_name(name)
        except ObjectNotFound:
            return None


@pytest.fixture(scope="module")
def deployed(prefect_server):
    """`prefect deploy --all` of this repository's prefect.yaml, its work pool created first."""
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.actions import WorkPoolCreate

    spec = load_deployment(ROOT / "prefect.yaml", "capo-nightly")

    async def create_pool():
        async with get_client() as client:
            pool = WorkPoolCreate(name=spec["work_pool"]["name"], type="process")
            await client.create_work_pool(pool, overwrite=True)

    asyncio.run(create_pool())
    env = {**os.environ, "PREFECT_API_URL": prefect_server, "PWD": str(ROOT)}
    out = run(
        [str(BIN / "prefect"), "--no-prompt", "deploy", "--all"], timeout=300, cwd=ROOT, env=env
    )
    assert out.returncode == 0, out.stdout + out.stderr
    return asyncio.run(_read("capo-pipeline/capo-nightly")), spec


def test_prefect_yaml_deploys_with_its_schedule(deployed):
    nightly, spec = deployed
    (schedule,) = nightly.schedules
    assert schedule.schedule.cron == spec["schedules"][0]["cron"]
    assert schedule.schedule.timezone == spec["schedules"][0]["timezone"]
    assert nightly.work_pool_name == "capo-process"
    assert nightly.entrypoint == "pipelines/flows.py:capo_pipeline"
    assert nightly.pull_steps and not nightly.paused


def _fields(d) -> dict:
    keep = ("entrypoint", "work_pool_name", "pull_steps", "paused", "parameters", "path", "tags")
    return {
        **{k: getattr(d, k) for k in keep},
        "schedules": [(s.schedule.cron, s.schedule.timezone, s.active) for s in d.schedules],
    }


def test_capo_serve_registers_its_own_deployment_and_leaves_capo_nightly_alone(
    deployed, prefect_server, tmp_path
):
    nightly, _ = deployed
    before = _fields(asyncio.run(_read("capo-pipeline/capo-nightly")))
    env = {**os.environ, "PREFECT_API_URL": prefect_server}
    log = (tmp_path / "serve.log").open("w")
    serve = [str(BIN / "capo"), "serve", "--repo", str(ROOT)]
    # left however the block ends: SIGTERM (a background `pytest &` ignores SIGINT), then kill
    with log, running(serve, cwd=tmp_path, env=env, stdout=log, stderr=subprocess.STDOUT) as proc:
        served = None
        for _ in range(240):  # registration takes seconds; give a loaded machine time
            served = asyncio.run(_read("capo-pipeline/capo-serve"))
            if served is not None or proc.poll() is not None:
                break
            time.sleep(0.5)
        assert served is not None, (tmp_path / "serve.log").read_text()[-3000:]
        time.sleep(2)  # let the runner start polling before it is told to stop
    assert proc.returncode == 0, (tmp_path / "serve.log").read_text()[-3000:]  # not killed
    after = asyncio.run(_read("capo-pipeline/capo-nightly"))
    assert _fields(after) == before and not after.paused
    assert after.id == nightly.id
    served = asyncio.run(_read("capo-pipeline/capo-serve"))
    assert served.entrypoint == "pipelines/flows.py:capo_pipeline"
    assert served.work_pool_name is None and served.paused  # its own, paused on exit
    assert [s.schedule.cron for s in served.schedules] == [s[0] for s in before["schedules"]]


def test_capo_serve_help_describes_every_option():
    out = subprocess.run(
        [str(BIN / "capo"), "serve", "--help"], capture_output=True, text=True, check=True
    ).stdout
    for option in ("--repo", "--name", "--schedule-from", "--prefect-yaml", "--keep-schedule"):
        assert option in out
    assert "capo-serve" in out and "capo-nightly" in out
