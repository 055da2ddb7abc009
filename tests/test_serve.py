"""prefect.yaml deploys for workers, both variants one run at a time; `capo serve` beside it
leaves those deployments alone and keeps every kind of schedule (or refuses one it cannot)."""

from __future__ import annotations

import argparse
import asyncio
import datetime
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from capo.errors import CapoError
from capo_pipelines.serve import load_deployment, runner_deployment, schedules_from
from tests._procs import run, running

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


@pytest.mark.slow
def test_prefect_yaml_deploys_with_its_schedule(deployed):
    nightly, spec = deployed
    (schedule,) = nightly.schedules
    assert schedule.schedule.cron == spec["schedules"][0]["cron"]
    assert schedule.schedule.timezone == spec["schedules"][0]["timezone"]
    assert nightly.work_pool_name == "capo-process"
    assert nightly.entrypoint == "pipelines/flows.py:capo_pipeline"
    assert nightly.pull_steps and not nightly.paused


@pytest.mark.slow
def test_prefect_yaml_deploys_both_variants_one_run_at_a_time(deployed):
    nightly, _ = deployed
    remote = asyncio.run(_read("capo-pipeline/capo-remote"))
    for deployment in (nightly, remote):
        assert deployment.global_concurrency_limit is not None, deployment.name
        assert deployment.global_concurrency_limit.limit == 1, deployment.name
    # the repository is read on the worker at run time: the variable may be set after deploying
    (clone, install) = remote.pull_steps
    assert clone["prefect.deployments.steps.git_clone"]["repository"] == (
        "{{ prefect.variables.capo_repository }}"
    )
    assert install["prefect.deployments.steps.pip_install_requirements"]["directory"] == (
        "{{ clone.directory }}"
    )
    assert nightly.pull_steps != remote.pull_steps
    assert (nightly.work_queue_name, remote.work_queue_name) == ("default", "remote")
    assert [s.active for s in remote.schedules] == [False] and nightly.schedules[0].active


def _fields(d) -> dict:
    keep = ("entrypoint", "work_pool_name", "pull_steps", "paused", "parameters", "path", "tags")
    return {
        **{k: getattr(d, k) for k in keep},
        "schedules": [(s.schedule.cron, s.schedule.timezone, s.active) for s in d.schedules],
    }


@pytest.mark.slow
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


@pytest.mark.slow
def test_capo_serve_help_describes_every_option():
    out = subprocess.run(
        [str(BIN / "capo"), "serve", "--help"], capture_output=True, text=True, check=True
    ).stdout
    for option in ("--repo", "--name", "--schedule-from", "--prefect-yaml", "--keep-schedule"):
        assert option in out
    assert "capo-serve" in out and "capo-nightly" in out


EVERY_KIND = [
    {"cron": "0 2 * * *", "timezone": "Europe/Berlin", "active": True},
    {
        "interval": 5400,
        "anchor_date": "2026-01-01T00:30:00+00:00",
        "timezone": "UTC",
        "parameters": {"set_params": ["++train.loss_overrides.capo.gamma=2.0"]},
        "slug": "every-90-minutes",
    },
    {"interval": "PT6H"},
    {"rrule": "FREQ=WEEKLY;BYDAY=MO;BYHOUR=3", "timezone": "America/New_York", "active": False},
    {"cron": "0 4 1-7 * 1", "day_or": False},  # the first Monday of a month
]


def test_schedules_from_keeps_every_kind_with_what_it_holds():
    cron, interval, iso, rrule, first_monday = schedules_from({"schedules": EVERY_KIND})
    assert (cron.cron, cron.timezone, cron.active) == ("0 2 * * *", "Europe/Berlin", True)
    assert interval.interval == datetime.timedelta(minutes=90) and interval.timezone == "UTC"
    assert interval.anchor_date == datetime.datetime(2026, 1, 1, 0, 30, tzinfo=datetime.UTC)
    assert interval.slug == "every-90-minutes"
    assert interval.parameters == EVERY_KIND[1]["parameters"]
    assert iso.interval == datetime.timedelta(hours=6)
    assert (rrule.rrule, rrule.timezone, rrule.active) == (
        "FREQ=WEEKLY;BYDAY=MO;BYHOUR=3",
        "America/New_York",
        False,
    )
    assert first_monday.day_or is False
    assert schedules_from({}) == []


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        ({"cron": "0 2 * * *", "interval": 60}, "exactly one of cron, interval or rrule"),
        ({"timezone": "UTC"}, "exactly one of cron, interval or rrule, got none"),
        ({"cron": "0 2 * * *", "replaces": "old-slug"}, "cannot apply replaces"),
        ({"interval": 60, "day_or": False}, "cannot apply day_or to a interval"),
        ({"cron": "every night"}, "Invalid cron string"),
        ({"interval": "soon"}, "valid timedelta"),
        ({"rrule": "weekly"}, "Invalid RRule string"),
        ("0 2 * * *", "expected a mapping"),
    ],
)
def test_schedules_from_refuses_what_it_cannot_apply_and_says_which(entry, message):
    with pytest.raises(CapoError, match="schedules\\[1\\]") as err:
        schedules_from({"name": "nightly", "schedules": [EVERY_KIND[0], entry]}, "p.yaml")
    assert message in str(err.value) and "p.yaml: deployment 'nightly'" in str(err.value)


@pytest.mark.slow
def test_capo_serve_registers_every_schedule_kind_and_the_limit(prefect_server, tmp_path):
    """What `capo serve` registers (its RunnerDeployment, applied without serving it), read
    back from a real server: every schedule of the prefect.yaml entry, and its limit."""
    from prefect.client.orchestration import get_client

    spec = {
        "deployments": [{"name": "every-kind", "concurrency_limit": 1, "schedules": EVERY_KIND}]
    }
    (tmp_path / "prefect.yaml").write_text(yaml.safe_dump(spec), encoding="utf-8")
    args = argparse.Namespace(
        repo=str(ROOT),
        prefect_yaml=str(tmp_path / "prefect.yaml"),
        schedule_from="every-kind",
        name="capo-serve-every-kind",
    )
    here = os.getcwd()
    try:
        deployment = runner_deployment(args)  # changes into the repository, as serve does
    finally:
        os.chdir(here)

    async def apply_and_read():
        deployment_id = await deployment.aapply()
        async with get_client() as client:
            return await client.read_deployment(deployment_id)

    served = asyncio.run(apply_and_read())
    assert served.global_concurrency_limit.limit == 1
    kinds = sorted(
        (
            type(s.schedule).__name__,
            getattr(s.schedule, "cron", None)
            # the last line: the server puts a DTSTART line before the rule
            or getattr(s.schedule, "rrule", "").rpartition("\n")[2]
            or s.schedule.interval.total_seconds(),
            s.active,
        )
        for s in served.schedules
    )
    assert kinds == [
        ("CronSchedule", "0 2 * * *", True),
        ("CronSchedule", "0 4 1-7 * 1", True),
        ("IntervalSchedule", 5400.0, True),
        ("IntervalSchedule", 21600.0, True),
        ("RRuleSchedule", "FREQ=WEEKLY;BYDAY=MO;BYHOUR=3", False),
    ]
    (every_90,) = [s for s in served.schedules if s.slug == "every-90-minutes"]
    assert every_90.parameters == EVERY_KIND[1]["parameters"]
    assert every_90.schedule.anchor_date == datetime.datetime(
        2026, 1, 1, 0, 30, tzinfo=datetime.UTC
    )
