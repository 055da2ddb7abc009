"""The Prefect flow on a real Prefect server (prefect_test_harness) over real DVC repos."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from pipelines.flows import capo_pipeline, load_deployment, stage_order
from tests.conftest import dvc_bin, git_dvc_repo

pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parents[1]

TOY_DVC = """
stages:
  shout:
    cmd: python shout.py
    deps: [shout.py]
    params: [msg]
    outs: [shout.txt]
  copy:
    matrix:
      n: [1, 2]
    cmd: python -c "open('copy${item.n}.txt', 'w').write(open('shout.txt').read() * ${item.n})"
    deps: [shout.txt]
    outs:
      - copy${item.n}.txt
  alone:
    cmd: python -c "open('alone.txt', 'w').write('x')"
    outs: [alone.txt]
"""
SHOUT = """import yaml
m = yaml.safe_load(open("params.yaml"))["msg"]
open("shout.txt", "w").write(m.upper())
"""


@pytest.fixture
def toy_repo(tmp_path):
    return git_dvc_repo(
        tmp_path / "repo", {"dvc.yaml": TOY_DVC, "params.yaml": "msg: hi\n", "shout.py": SHOUT}
    )


def test_stage_order_follows_the_dag_then_declaration(toy_repo):
    assert stage_order(toy_repo) == ["shout", "copy@1", "copy@2", "alone"]


def test_flow_runs_every_stage_then_skips_when_nothing_changed(toy_repo, prefect_server):
    first = capo_pipeline(repo=str(toy_repo))
    assert [r.stage for r in first if r.ran] == ["shout", "copy@1", "copy@2", "alone"]
    assert (toy_repo / "copy2.txt").read_text() == "HIHI"
    status = subprocess.run(
        [dvc_bin(), "status", "--json"], cwd=toy_repo, capture_output=True, text=True, check=True
    )
    assert status.stdout.strip() == "{}"  # same outputs and lock as `dvc repro` would leave
    second = capo_pipeline(repo=str(toy_repo))
    assert [r.stage for r in second if r.ran] == []


def test_set_params_overrides_like_dvc_exp_run(toy_repo, prefect_server):
    runs = capo_pipeline(repo=str(toy_repo), set_params=["msg=hola"])
    assert (toy_repo / "shout.txt").read_text() == "HOLA"
    assert yaml.safe_load((toy_repo / "params.yaml").read_text())["msg"] == "hola"
    assert {r.stage for r in runs if r.ran} >= {"shout", "copy@1"}


def test_a_failing_stage_fails_the_flow_with_its_message(tmp_path, prefect_server):
    bad = SHOUT.replace("write(m.upper())", "write(m.upper() if m != 'boom' else exit(m + m))")
    files = {"dvc.yaml": TOY_DVC, "params.yaml": "msg: boom\n", "shout.py": bad}
    repo = git_dvc_repo(tmp_path / "bad", files)
    state = capo_pipeline(repo=str(repo), return_state=True)
    assert state.is_failed()
    with pytest.raises(Exception, match=r"stage shout failed(.|\n)*boomboom"):
        state.result()
    assert not (repo / "copy1.txt").exists()


def test_prefect_yaml_deploys_with_its_schedule(prefect_server, tmp_path):
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.actions import WorkPoolCreate

    spec = load_deployment(ROOT / "prefect.yaml", "capo-nightly")

    async def create_pool_then_read(deploy):
        async with get_client() as client:
            await client.create_work_pool(
                WorkPoolCreate(name=spec["work_pool"]["name"], type="process")
            )
            deploy()
            deployment = await client.read_deployment_by_name("capo-pipeline/capo-nightly")
            return deployment

    env = {**os.environ, "PREFECT_API_URL": prefect_server, "PWD": str(ROOT)}

    def deploy():
        out = subprocess.run(
            [str(Path(sys.executable).parent / "prefect"), "--no-prompt", "deploy", "--all"],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert out.returncode == 0, out.stdout + out.stderr

    deployment = asyncio.run(create_pool_then_read(deploy))
    (schedule,) = deployment.schedules
    assert schedule.schedule.cron == spec["schedules"][0]["cron"]
    assert schedule.schedule.timezone == spec["schedules"][0]["timezone"]
    assert deployment.work_pool_name == "capo-process"
    assert deployment.entrypoint == "pipelines/flows.py:capo_pipeline"
