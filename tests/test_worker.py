"""A scheduled run as a user sets it up: `prefect deploy`, a process worker, set_params.

In a temporary git copy of this repository on the reduced profile (the same stages and code,
minutes less work): the pipeline is reproduced and committed, prefect.yaml is deployed to a
`process` work pool on the test server, a run of capo-nightly with set_params is created, and
`prefect worker start --run-once` runs it. The run must leave the checkout as it found it,
rerun only the stages downstream of the changed param, and log stage-labelled lines without
tqdm's carriage-return spam. The experiment it saved is then reviewed with `capo report`.
"""

from __future__ import annotations

import asyncio
import json
import re
import sys
from pathlib import Path

import pytest
from dvc.utils.hydra import apply_overrides

from tests._procs import run
from tests.conftest import GIT_ENV, copy_worktree, dvc_bin
from tests.test_pipeline_e2e import REDUCED

pytestmark = [pytest.mark.slow, pytest.mark.timeout(1800)]
BIN = Path(sys.executable).parent
# capo alone gets gamma 2.0: its own params entry, so no other loss's stages depend on it
SET_PARAMS = ["++train.loss_overrides.capo.gamma=2.0"]  # ++: add or replace
EXPERIMENT = "capo-gamma2"


def _run(args: list[str], repo: Path, env: dict | None = None, timeout: int = 900) -> str:
    # its own process group, stopped on timeout: the worker's flow run and its stages too
    proc = run(args, timeout, cwd=repo, env=env or GIT_ENV)
    assert proc.returncode == 0, f"{args}: {proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
    return proc.stdout


async def _flow_run(prefect_server: str, repo: Path, env: dict) -> tuple:
    """Work pool, `prefect deploy --all` from ``repo``, a run with set_params, the worker."""
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.actions import WorkPoolCreate
    from prefect.client.schemas.filters import LogFilter, LogFilterFlowRunId, TaskRunFilter
    from prefect.deployments import run_deployment

    async with get_client() as client:
        await client.create_work_pool(
            WorkPoolCreate(name="capo-process", type="process"), overwrite=True
        )
    _run([str(BIN / "prefect"), "--no-prompt", "deploy", "--all"], repo, {**env, "PWD": str(repo)})
    run = await run_deployment(
        "capo-pipeline/capo-nightly",
        parameters={"set_params": SET_PARAMS, "experiment": EXPERIMENT},
        timeout=0,
    )
    worker = [str(BIN / "prefect"), "worker", "start", "--pool", "capo-process", "--run-once"]
    _run(worker, repo, env, timeout=1500)
    async with get_client() as client:
        flow_run = await client.read_flow_run(run.id)
        logs = await client.read_logs(
            log_filter=LogFilter(flow_run_id=LogFilterFlowRunId(any_=[run.id])), limit=200
        )
        more = logs
        while len(more) == 200:  # read_logs pages at 200
            more = await client.read_logs(
                log_filter=LogFilter(flow_run_id=LogFilterFlowRunId(any_=[run.id])),
                limit=200,
                offset=len(logs),
            )
            logs += more
        task_runs = await client.read_task_runs(
            task_run_filter=TaskRunFilter(flow_run_id={"any_": [run.id]})
        )
    return flow_run, logs, {t.id: t.name for t in task_runs}


@pytest.fixture(scope="module")
def scheduled_run(tmp_path_factory, prefect_server):
    repo = copy_worktree(tmp_path_factory.mktemp("worker"))
    apply_overrides(repo / "params.yaml", REDUCED)
    _run([dvc_bin(), "repro"], repo, timeout=1500)
    _run(["git", "add", "-A"], repo)
    _run(["git", "commit", "-qm", "reduced profile, reproduced"], repo)
    base = _run(["git", "rev-parse", "HEAD"], repo).strip()
    env = {**GIT_ENV, "PREFECT_API_URL": prefect_server}
    env.pop("TQDM_DISABLE", None)  # the stages' real progress bars, as a user's run has them
    flow_run, logs, task_names = asyncio.run(_flow_run(prefect_server, repo, env))
    return repo, base, flow_run, logs, task_names


def test_the_run_leaves_the_checkout_as_it_found_it(scheduled_run):
    repo, base, flow_run, _, _ = scheduled_run
    assert flow_run.state.is_completed(), flow_run.state.message
    assert _run(["git", "status", "--porcelain", "--untracked-files=all"], repo) == ""
    assert _run(["git", "rev-parse", "HEAD"], repo).strip() == base
    assert _run(["git", "diff", base, "--", "params.yaml"], repo) == ""


def test_only_the_stages_downstream_of_the_changed_param_reran(scheduled_run):
    _, _, _, logs, _ = scheduled_run
    (summary,) = [log.message for log in logs if log.message.startswith("stages run:")]
    ran = summary.removeprefix("stages run:").strip().split(", ")
    # loss_settings reruns (cheap) on any loss param; only capo's settings file changed
    assert ran == ["loss_settings", "train@capo", "evaluate@capo", "compare", "register"], summary


def test_logs_carry_stage_labels_and_no_progress_spam(scheduled_run):
    _, _, _, logs, task_names = scheduled_run
    stage_lines = [
        (task_names[log.task_run_id], log.message)
        for log in logs
        if log.task_run_id is not None and not log.message.startswith("Finished in state")
    ]
    assert stage_lines
    for stage, message in stage_lines:
        assert message.startswith(f"[{stage}] "), message
        assert "\r" not in message and message.removeprefix(f"[{stage}]").strip()
    per_stage: dict[str, list[str]] = {}
    for stage, message in stage_lines:
        per_stage.setdefault(stage, []).append(message)
    progress = re.compile(r"\d+/\d+")
    for stage, messages in per_stage.items():
        bars = [m for m in messages if progress.search(m) and ("done in" in m or "%" in m)]
        assert len(bars) <= 25, (stage, bars)  # a few lines per bar, not one per update
    assert any("done in" in m for m in per_stage["train@capo"])  # progress is still reported


def test_the_experiment_is_saved_and_its_report_shows_capo_per_language(scheduled_run, tmp_path):
    repo, base, _, _, _ = scheduled_run
    refs = _run(["git", "for-each-ref", "--format=%(refname)", "refs/exps"], repo).split()
    (ref,) = [r for r in refs if r.endswith(f"/{EXPERIMENT}")]
    env = {**GIT_ENV, "DVC_NO_ANALYTICS": "1"}
    _run(["git", "checkout", "-q", ref], repo)  # the experiment's commit, child of base
    try:
        _run([dvc_bin(), "checkout", "--allow-missing", "dvc.yaml"], repo, env)
        _run([str(BIN / "capo"), "report", "--base", base], repo)
        md = (repo / "reports" / "pr" / "report.md").read_text()
        old = json.loads(_run(["git", "show", f"{base}:metrics/capo.json"], repo))
        new = json.loads((repo / "metrics" / "capo.json").read_text())
        assert "`train.loss_overrides.capo.gamma`" in md or "train.loss_overrides.capo" in md
        first = md[md.index("| ") :].split("\n\n")[0]  # the first table
        assert first.splitlines()[0].split("|")[3].strip() == "reward accuracy"
        for lang, row in new["per_language"].items():
            a, b = old["per_language"][lang]["reward_accuracy"], row["reward_accuracy"]
            cell = f"{a:.3f} → {b:.3f}" if f"{a:.3f}" != f"{b:.3f}" or a != b else f"{a:.3f}"
            assert f"| {lang} | " in first and cell in first, (lang, cell, first)
        assert "sigmoid" in md.split("### capo", 1)[1].split("<details>")[1]  # unchanged
        status = _run(["git", "status", "--porcelain", "--untracked-files=all"], repo)
        assert status == ""
    finally:
        _run(["git", "checkout", "-q", "main"], repo)
