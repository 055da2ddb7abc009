"""The Prefect flow on a real Prefect server (prefect_test_harness) over real DVC repos."""

from __future__ import annotations

import asyncio
import json
import subprocess
import time
from pathlib import Path

import dvc.api
import pytest
import yaml

from capo_pipelines.flows import capo_pipeline, stage_order
from tests.conftest import GIT_ENV, dvc_bin, git_dvc_repo

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
# A pipeline of its own under studies/: it must never run in the root pipeline's flow.
STUDY_DVC = """
stages:
  study:
    cmd: python -c "open('study.txt', 'w').write('s')"
    outs: [study.txt]
"""
PARAMS = "# the message\nmsg: hi  # shouted\nlist: [1, 2]\nnothing: null\n"


def _git(repo: Path, *args: str) -> str:
    return subprocess.run(
        ["git", *args], cwd=repo, capture_output=True, text=True, check=True, env=GIT_ENV
    ).stdout


@pytest.fixture
def toy_repo(tmp_path):
    files = {"dvc.yaml": TOY_DVC, "params.yaml": PARAMS, "shout.py": SHOUT}
    return git_dvc_repo(tmp_path / "repo", {**files, "studies/dvc.yaml": STUDY_DVC})


@pytest.fixture
def reproduced(toy_repo):
    """The toy pipeline run once and committed, as a scheduled run finds a repository."""
    subprocess.run([dvc_bin(), "repro", "-q"], cwd=toy_repo, check=True, env=GIT_ENV)
    _git(toy_repo, "add", "-A")
    _git(toy_repo, "commit", "-qm", "reproduced")
    return toy_repo


def test_stage_order_follows_the_dag_then_declaration_in_the_root_dvc_yaml(toy_repo):
    assert stage_order(toy_repo) == ["shout", "copy@1", "copy@2", "alone"]


def test_flow_runs_every_stage_then_skips_when_nothing_changed(toy_repo, prefect_server):
    first = capo_pipeline(repo=str(toy_repo))
    assert [r.stage for r in first if r.ran] == ["shout", "copy@1", "copy@2", "alone"]
    assert (toy_repo / "copy2.txt").read_text() == "HIHI"
    assert not (toy_repo / "studies" / "study.txt").exists()
    status = subprocess.run(
        [dvc_bin(), "status", "--json", "dvc.yaml"],
        cwd=toy_repo,
        capture_output=True,
        text=True,
        check=True,
    )
    assert status.stdout.strip() == "{}"  # same outputs and lock as `dvc repro` would leave
    second = capo_pipeline(repo=str(toy_repo))
    assert [r.stage for r in second if r.ran] == []


def test_set_params_is_an_experiment_and_leaves_the_checkout_as_it_was(reproduced, prefect_server):
    before = {p: (reproduced / p).read_bytes() for p in ("params.yaml", "dvc.lock", "shout.txt")}
    runs = capo_pipeline(repo=str(reproduced), set_params=["msg=hola"], experiment="hola")
    assert [r.stage for r in runs if r.ran] == ["shout", "copy@1", "copy@2"]  # not `alone`
    assert _git(reproduced, "status", "--porcelain", "--untracked-files=all") == ""
    assert {p: (reproduced / p).read_bytes() for p in before} == before
    shown = subprocess.run(
        [dvc_bin(), "exp", "show", "--json"], cwd=reproduced, capture_output=True, text=True
    )
    exps = [e for rev in json.loads(shown.stdout) for e in (rev.get("experiments") or [])]
    (hola,) = [e for e in exps if e.get("name") == "hola"]
    params = hola["revs"][0]["data"]["params"]["params.yaml"]["data"]
    assert params["msg"] == "hola" and params["list"] == [1, 2]
    ref = _git(reproduced, "for-each-ref", "--format=%(refname)", "refs/exps").split()
    (exp_ref,) = [r for r in ref if r.endswith("/hola")]
    assert yaml.safe_load(_git(reproduced, "show", f"{exp_ref}:params.yaml"))["msg"] == "hola"
    # its outputs are in the shared cache (`dvc exp apply hola` would check them out)
    assert dvc.api.read("copy2.txt", repo=str(reproduced), rev=exp_ref) == "HOLAHOLA"


def test_a_failing_stage_fails_the_flow_with_its_message(tmp_path, prefect_server):
    bad = SHOUT.replace("write(m.upper())", "write(m.upper() if m != 'boom' else exit(m + m))")
    files = {"dvc.yaml": TOY_DVC, "params.yaml": "msg: boom\n", "shout.py": bad}
    repo = git_dvc_repo(tmp_path / "bad", files)
    state = capo_pipeline(repo=str(repo), return_state=True)
    assert state.is_failed()
    with pytest.raises(Exception, match=r"stage shout failed(.|\n)*boomboom"):
        state.result()
    assert not (repo / "copy1.txt").exists()


# A stage that talks like a training script: a tqdm bar, blank lines, a FutureWarning.
NOISY = """import sys, time, warnings
from tqdm import tqdm
print("loading", flush=True)
print("", flush=True)
warnings.warn("`old` is deprecated", FutureWarning)
for _ in tqdm(range(200), desc="steps", mininterval=0, file=sys.stderr):
    pass
print("\\n\\n", flush=True)
open("noisy.txt", "w").write("done")
"""
NOISY_DVC = """
stages:
  noisy:
    cmd: python noisy.py
    deps: [noisy.py]
    outs: [noisy.txt]
"""


async def _logs(flow_run_id) -> list:
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import LogFilter, LogFilterFlowRunId

    async with get_client() as client:
        flt = LogFilter(flow_run_id=LogFilterFlowRunId(any_=[flow_run_id]))
        return await client.read_logs(log_filter=flt, limit=200)


def test_stage_logs_are_labelled_and_progress_is_throttled(tmp_path, prefect_server, monkeypatch):
    monkeypatch.delenv("TQDM_DISABLE", raising=False)  # conftest silences tqdm; not here
    repo = git_dvc_repo(tmp_path / "noisy", {"dvc.yaml": NOISY_DVC, "noisy.py": NOISY})
    state = capo_pipeline(repo=str(repo), return_state=True)
    assert state.is_completed(), state.message
    from prefect.logging.handlers import APILogHandler

    APILogHandler().flush()  # logs reach the API in batches: send what is queued first
    for _ in range(40):  # and the server may store a batch a moment later
        logs = asyncio.run(_logs(state.state_details.flow_run_id))
        if any("noisy.txt" in log.message or "lock file" in log.message for log in logs):
            break
        time.sleep(0.5)
    stage_logs = [
        log.message
        for log in logs
        if log.task_run_id is not None and not log.message.startswith("Finished in state")
    ]
    assert stage_logs and all(m.startswith("[noisy] ") for m in stage_logs), stage_logs
    assert not any("\r" in m or not m.removeprefix("[noisy]").strip() for m in stage_logs)
    progress = [m for m in stage_logs if "steps" in m]
    assert progress == ["[noisy] steps: 200/200 done in 00:00"], progress
    warns = [log for log in logs if "FutureWarning" in log.message]
    assert len(warns) == 1 and warns[0].level == 30  # one WARNING line, no echoed source
    assert not any("warnings.warn(" in m for m in stage_logs)


def test_artifacts_table_and_charts_the_ui_can_show(tmp_path, prefect_server):
    import base64

    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterFlowRunId

    doc = {
        "overall": {"reward_accuracy": 0.6, "pairs": 20},
        "per_language": {"de": {"reward_accuracy": 0.5, "pairs": 10}},
    }
    png = base64.b64decode(
        "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg=="
    )
    repo = git_dvc_repo(tmp_path / "art", {"dvc.yaml": "stages: {}\n"})
    (repo / "metrics").mkdir()
    (repo / "metrics" / "capo.json").write_text(json.dumps(doc))
    (repo / "reports" / "figures").mkdir(parents=True)
    (repo / "reports" / "figures" / "reward_gain.png").write_bytes(png)
    (repo / "reports" / "comparison.md").write_text("# c\n\n![gain](figures/reward_gain.png)\n")
    state = capo_pipeline(repo=str(repo), return_state=True)
    assert state.is_completed(), state.message

    async def read():
        async with get_client() as client:
            flt = ArtifactFilter(
                flow_run_id=ArtifactFilterFlowRunId(any_=[state.state_details.flow_run_id])
            )
            return {a.key: a for a in await client.read_artifacts(artifact_filter=flt)}

    arts = asyncio.run(read())
    assert set(arts) == {"capo-reward-accuracy", "capo-reward-gain", "capo-comparison"}
    assert arts["capo-reward-gain"].type == "image"
    assert arts["capo-reward-gain"].data == "data:image/png;base64," + base64.b64encode(png).decode(
        "ascii"
    )
    rows = json.loads(arts["capo-reward-accuracy"].data)
    assert rows[0] == {"language": "de", "test pairs": 10, "capo reward acc.": 0.5}
    assert rows[-1]["language"] == "all" and rows[-1]["capo reward acc."] == 0.6
    assert "figures/" not in arts["capo-comparison"].data
    assert "`capo-reward-gain`" in arts["capo-comparison"].data


def test_a_bad_override_fails_with_hydras_hint_and_changes_nothing(toy_repo, prefect_server):
    state = capo_pipeline(repo=str(toy_repo), set_params=["nosuch.key=1"], return_state=True)
    assert state.is_failed()
    with pytest.raises(Exception, match=r"set_params \['nosuch.key=1'\]: .*\+nosuch.key=1"):
        state.result()
    assert _git(toy_repo, "status", "--porcelain", "--untracked-files=all") == ""
    assert not list((toy_repo / ".dvc" / "tmp").glob("capo-exp-*"))  # the clone is gone
