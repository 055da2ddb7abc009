"""Prefect flow `capo_pipeline`: the DVC stages of dvc.yaml as Prefect tasks, in DVC's order.

Each task runs one stage through `dvc repro --single-item`, so DVC's cache, lock file and
outputs stay the single truth: an unchanged stage is skipped by DVC, not by Prefect. The
stage list and order come from the repository's root dvc.yaml (DVC's dependency graph, ties
broken by declaration order), so a new stage joins the flow without changes here, and
pipelines in other dvc.yaml files (studies/) never run in it.

Without overrides a run is `dvc repro` of the checkout. With ``set_params`` it is a DVC
experiment, like `dvc exp run -S`: the stages run in a throw-away clone that shares the DVC
cache, the result is saved as an experiment (`dvc exp show`, `dvc exp apply <name>`), and the
checkout, params.yaml included, is left exactly as it was.

    python -m capo_pipelines.flows                      # run once against PREFECT_API_URL
    python -m capo_pipelines.flows -S loss.gamma=2.0    # an experiment, like `dvc exp run -S`
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import networkx as nx
from dvc.repo import Repo
from dvc.utils.hydra import apply_overrides
from prefect import flow, get_run_logger, runtime, task

from capo.errors import CapoError
from capo_pipelines._stage import clean_exit, tool, tool_env
from capo_pipelines.experiment import experiment_workspace, save_experiment
from capo_pipelines.flow_artifacts import publish_artifacts
from capo_pipelines.serve import add_serve_command, load_deployment
from capo_pipelines.stage_log import StageLog

__all__ = [
    "StageFailed",
    "StageRun",
    "add_serve_command",
    "capo_pipeline",
    "load_deployment",
    "stage_order",
]

# Messages of failures worth retrying: another DVC process holds the lock, or I/O hiccups.
TRANSIENT = ("Unable to acquire lock", "Resource temporarily unavailable", "Connection reset")
# DVC's advice after every stage (git add dvc.lock, autostage, dvc push): noise in a run log.
DVC_HINTS = re.compile(
    r"^(To track the changes with git, run:|git add |To enable auto staging, run:"
    r"|dvc config core\.autostage true|Use `dvc push` to send your updates)"
)


class StageFailed(RuntimeError):
    """A DVC stage exited non-zero; the message carries the stage's own error output."""


@dataclass(frozen=True)
class StageRun:
    stage: str
    ran: bool  # False when DVC found the stage unchanged and skipped it


def stage_order(repo: str | Path = ".") -> list[str]:
    """Stages of the root dvc.yaml (matrix entries expanded, e.g. ``train@capo``), in order."""
    with Repo(str(repo)) as dvc_repo:
        root_file = Path(dvc_repo.root_dir) / "dvc.yaml"
        stages = [s for s in dvc_repo.index.stages if Path(s.path) == root_file]
        position = {stage: i for i, stage in enumerate(stages)}
        # edges point from a stage to the stages it depends on
        graph = dvc_repo.index.graph.subgraph(stages).reverse()
        order = nx.lexicographical_topological_sort(graph, key=position.__getitem__)
        return [stage.name for stage in order]


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
    """Run one DVC stage; its output goes to the Prefect log, labelled, progress throttled."""
    logger = get_run_logger()
    log = StageLog(stage, emit=logger.log, drop=DVC_HINTS)
    proc = subprocess.Popen(
        [tool("dvc"), "repro", "--single-item", stage],
        cwd=repo,
        env=tool_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        bufsize=1,
    )
    assert proc.stdout is not None
    for line in proc.stdout:
        log.feed(line)
    if proc.wait() != 0:
        tail = "\n".join(log.lines[-20:])
        raise StageFailed(f"stage {stage} failed (exit {proc.returncode}):\n{tail}")
    return StageRun(stage, ran=any(line.startswith("Running stage") for line in log.lines))


def _experiment_name(given: str | None) -> str:
    """``given``, else one from the flow run's name (a valid git ref name)."""
    name = given or f"prefect-{runtime.flow_run.name or 'run'}"
    return re.sub(r"[^A-Za-z0-9._-]+", "-", name).strip("-.") or "prefect-run"


def _override(params: Path, overrides: list[str]) -> None:
    """`dvc exp run -S` semantics; a bad override fails with Hydra's own hint."""
    try:
        apply_overrides(params, overrides)
    except Exception as err:
        cause = str(err.__cause__ or err).strip().replace("\n", " ")
        raise CapoError(f"set_params {overrides}: {cause}") from None


def _run_all(root: Path) -> list[StageRun]:
    runs = [run_stage(stage, str(root)) for stage in stage_order(root)]
    publish_artifacts(root)
    return runs


@flow(name="capo-pipeline", log_prints=True)
def capo_pipeline(
    repo: str = ".", set_params: list[str] | None = None, experiment: str | None = None
) -> list[StageRun]:
    """Run capo's DVC pipeline stage by stage; ``set_params`` makes the run a DVC experiment.

    Args:
        repo: the repository (holds dvc.yaml).
        set_params: params.yaml overrides, as `dvc exp run -S` takes them (``loss.gamma=2.0``).
        experiment: the experiment's name when ``set_params`` is given (default: from the
            flow run's name).
    """
    logger = get_run_logger()
    root = Path(repo).resolve()
    if not set_params:
        runs = _run_all(root)
    else:
        name = _experiment_name(experiment)
        logger.info("experiment %s: %s, in a clone sharing the DVC cache", name, set_params)
        with experiment_workspace(root) as ws:
            _override(ws / "params.yaml", list(set_params))
            runs = _run_all(ws)
            save_experiment(ws, root, name)
        logger.info("experiment %s saved: `dvc exp show`; `dvc exp apply %s` to use it", name, name)
    ran = [r.stage for r in runs if r.ran]
    logger.info("stages run: %s", ", ".join(ran) if ran else "none (all up to date)")
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
        help="override a params.yaml value, like `dvc exp run -S` (repeatable); the run "
        "becomes a DVC experiment and the checkout is left unchanged",
    )
    parser.add_argument("--name", default=None, help="experiment name (with -S)")
    args = parser.parse_args(argv)
    state = capo_pipeline(
        repo=args.repo, set_params=args.set_param, experiment=args.name, return_state=True
    )
    if state.is_failed():
        print(f"capo-pipeline failed: {state.message}", file=sys.stderr)
        raise SystemExit(1)


if __name__ == "__main__":
    with clean_exit("capo-pipeline"):  # SIGTERM: exit 143, nothing it started left running
        main()
