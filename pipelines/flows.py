"""Prefect flow `capo_pipeline`: the DVC stages of dvc.yaml as Prefect tasks, in DVC's order.

Each task runs one stage through `dvc repro --single-item`, so DVC's cache, lock file and
outputs stay the single truth: an unchanged stage is skipped by DVC, not by Prefect. The
stage list and order come from dvc.yaml (DVC's dependency graph, ties broken by declaration
order), so a new stage joins the flow without changes here.

    python -m pipelines.flows                      # run once against PREFECT_API_URL
    python -m pipelines.flows -S loss.gamma=2.0    # like `dvc exp run -S loss.gamma=2.0`
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import networkx as nx
from dvc.repo import Repo
from dvc.utils.hydra import apply_overrides
from prefect import flow, get_run_logger, task
from prefect.artifacts import create_markdown_artifact

from capo.errors import CapoError
from pipelines._stage import tool, tool_env

__all__ = ["StageFailed", "StageRun", "capo_pipeline", "stage_order"]

# Messages of failures worth retrying: another DVC process holds the lock, or I/O hiccups.
TRANSIENT = ("Unable to acquire lock", "Resource temporarily unavailable", "Connection reset")


class StageFailed(RuntimeError):
    """A DVC stage exited non-zero; the message carries the stage's own error output."""


@dataclass(frozen=True)
class StageRun:
    stage: str
    ran: bool  # False when DVC found the stage unchanged and skipped it


def stage_order(repo: str | Path = ".") -> list[str]:
    """Stage names (matrix entries expanded, e.g. ``train@capo``) in execution order."""
    with Repo(str(repo)) as dvc_repo:
        stages = list(dvc_repo.index.stages)
        graph = dvc_repo.index.graph  # edges point from a stage to the stages it depends on
        position = {stage: i for i, stage in enumerate(stages)}
        order = nx.lexicographical_topological_sort(graph.reverse(), key=position.__getitem__)
        return [_address(stage, dvc_repo.root_dir) for stage in order]


def _address(stage, root: str) -> str:
    """``name`` for root dvc.yaml stages, ``path/dvc.yaml:name`` otherwise, as `dvc repro` takes."""
    dvcfile = Path(stage.path).relative_to(root)
    return stage.name if str(dvcfile) == "dvc.yaml" else f"{dvcfile}:{stage.name}"


def _retry_if_transient(task, task_run, state) -> bool:
    try:
        state.result()
    except StageFailed as err:
        return any(marker in str(err) for marker in TRANSIENT)
    except Exception:
        return True
    return False


@task(
    retries=2,
    retry_delay_seconds=5,
    retry_condition_fn=_retry_if_transient,
    task_run_name="{stage}",
)
def run_stage(stage: str, repo: str) -> StageRun:
    """Run one DVC stage, streaming its output into the Prefect log."""
    logger = get_run_logger()
    proc = subprocess.Popen(
        [tool("dvc"), "repro", "--single-item", stage],
        cwd=repo,
        env=tool_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        bufsize=1,
    )
    lines: list[str] = []
    assert proc.stdout is not None
    for line in proc.stdout:
        lines.append(line.rstrip())
        logger.info("%s", line.rstrip())
    if proc.wait() != 0:
        tail = "\n".join(lines[-20:])
        raise StageFailed(f"stage {stage} failed (exit {proc.returncode}):\n{tail}")
    return StageRun(stage, ran=any("Running stage" in line for line in lines))


@flow(name="capo-pipeline", log_prints=True)
def capo_pipeline(repo: str = ".", set_params: list[str] | None = None) -> list[StageRun]:
    """Run capo's DVC pipeline stage by stage; ``set_params`` works like `dvc exp run -S`."""
    logger = get_run_logger()
    root = Path(repo).resolve()
    if set_params:
        logger.info("applying params overrides to params.yaml: %s", set_params)
        apply_overrides(root / "params.yaml", list(set_params))
    runs = [run_stage(stage, str(root)) for stage in stage_order(root)]
    logger.info("stages run: %s", [r.stage for r in runs if r.ran] or "none (all up to date)")
    report = root / "reports" / "comparison.md"
    if report.exists():
        create_markdown_artifact(
            key="capo-comparison",
            markdown=report.read_text("utf-8"),
            description="CAPO against the baselines, per language",
        )
    return runs


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repo", default=".", help="repository with dvc.yaml (default: .)")
    parser.add_argument(
        "-S",
        "--set-param",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override a params.yaml value, like `dvc exp run -S` (repeatable)",
    )
    args = parser.parse_args(argv)
    state = capo_pipeline(repo=args.repo, set_params=args.set_param, return_state=True)
    if state.is_failed():
        print(f"capo-pipeline failed: {state.message}", file=sys.stderr)
        raise SystemExit(1)


if __name__ == "__main__":
    main()


def load_deployment(prefect_yaml: str | Path, name: str) -> dict:
    """The named deployment's entry of prefect.yaml."""
    import yaml

    spec = yaml.safe_load(Path(prefect_yaml).read_text(encoding="utf-8"))
    for deployment in spec.get("deployments", []):
        if deployment.get("name") == name:
            return deployment
    raise CapoError(f"{prefect_yaml}: no deployment named {name!r}")


def serve(args: argparse.Namespace) -> int:
    """`capo serve`: run prefect.yaml's schedule in this process, no worker needed."""
    from prefect.schedules import Cron

    deployment = load_deployment(args.prefect_yaml, args.deployment)
    schedules = [
        Cron(s["cron"], timezone=s.get("timezone", "UTC"))
        for s in deployment.get("schedules", [])
        if "cron" in s
    ]
    capo_pipeline.serve(
        name=args.deployment,
        schedules=schedules,
        parameters=deployment.get("parameters", {}),
        tags=deployment.get("tags"),
        description=deployment.get("description"),
    )
    return 0


def add_serve_command(subparsers: argparse._SubParsersAction) -> None:
    """Plug `serve` into the `capo` command (entry point group ``capo.commands``)."""
    parser = subparsers.add_parser(
        "serve",
        help="run the Prefect schedule of prefect.yaml in this process",
        description="Serve the capo-pipeline flow on the cron schedule declared in "
        "prefect.yaml, in one long-running process (Ctrl-C stops it). Needs a Prefect "
        "API (PREFECT_API_URL) or starts a local ephemeral one.",
    )
    parser.add_argument("--prefect-yaml", default="prefect.yaml")
    parser.add_argument("--deployment", default="capo-nightly")
    parser.set_defaults(func=serve)
