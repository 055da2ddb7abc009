"""`capo serve`: the capo-pipeline flow on prefect.yaml's schedule, in one process, no worker.

It registers its own deployment (``capo-pipeline/capo-serve`` by default), with the
repository's entrypoint ``pipelines/flows.py:capo_pipeline``, so it never overwrites the
deployment that `prefect deploy` made for workers (capo-nightly). On exit (Ctrl-C, SIGTERM) it
pauses only its own deployment, so no runs pile up for a server that is gone; every other
deployment is left as it was.
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from capo.errors import CapoError

__all__ = ["ENTRYPOINT", "add_serve_command", "load_deployment", "serve"]

ENTRYPOINT = "pipelines/flows.py:capo_pipeline"  # relative to the repository root


def load_deployment(prefect_yaml: str | Path, name: str) -> dict:
    """The named deployment's entry of prefect.yaml."""
    import yaml

    path = Path(prefect_yaml)
    if not path.is_file():
        raise CapoError(f"{path}: no such file")
    spec = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    for deployment in spec.get("deployments") or []:
        if deployment.get("name") == name:
            return deployment
    raise CapoError(f"{path}: no deployment named {name!r}")


def serve(args: argparse.Namespace) -> int:
    """Register ``args.name`` from the repository's entrypoint and run its schedule here."""
    from prefect import serve as prefect_serve
    from prefect.deployments.runner import RunnerDeployment
    from prefect.schedules import Cron

    repo = Path(args.repo).resolve()
    if not (repo / ENTRYPOINT.split(":")[0]).is_file():
        raise CapoError(f"{repo}: no {ENTRYPOINT.split(':')[0]} (is --repo the capo repository?)")
    spec = load_deployment(repo / args.prefect_yaml, args.schedule_from)
    schedules = [
        Cron(s["cron"], timezone=s.get("timezone", "UTC"))
        for s in spec.get("schedules") or []
        if "cron" in s and s.get("active", True)
    ]
    os.chdir(repo)  # runs execute here, and the entrypoint is relative to it
    deployment = RunnerDeployment.from_entrypoint(
        ENTRYPOINT,
        name=args.name,
        schedules=schedules,
        parameters=spec.get("parameters", {}),
        tags=[*spec.get("tags", []), "serve"],
        description=f"`capo serve` of {repo}, on the schedule of {args.schedule_from}.",
    )
    prefect_serve(deployment, pause_on_shutdown=not args.keep_schedule)
    return 0


def add_serve_command(subparsers: argparse._SubParsersAction) -> None:
    """run the pipeline on prefect.yaml's schedule in this process (no worker)

    Plugs `serve` into the `capo` command (entry point group ``capo.commands``); the first
    line is its help in `capo --help`, read without importing this module (capo/cli.py).
    """
    parser = subparsers.add_parser(
        "serve",
        help="run the pipeline on prefect.yaml's schedule in this process (no worker)",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--repo", default=".", help="the capo repository to run (default: the current directory)"
    )
    parser.add_argument(
        "--name",
        default="capo-serve",
        help="deployment name to register (default: capo-serve); keep it different from "
        "the deployments `prefect deploy` makes",
    )
    parser.add_argument(
        "--schedule-from",
        default="capo-nightly",
        metavar="DEPLOYMENT",
        help="prefect.yaml deployment whose schedules, parameters and tags to use "
        "(default: capo-nightly)",
    )
    parser.add_argument(
        "--prefect-yaml",
        default="prefect.yaml",
        help="deployment file, relative to --repo (default: prefect.yaml)",
    )
    parser.add_argument(
        "--keep-schedule",
        action="store_true",
        help="leave this deployment's schedule active on exit (default: pause it, so the "
        "server does not queue runs that nobody executes)",
    )
    parser.set_defaults(func=serve)
