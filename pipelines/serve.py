"""`capo serve`: the capo-pipeline flow on prefect.yaml's schedule, in one process, no worker.

It registers its own deployment (``capo-pipeline/capo-serve`` by default), with the
repository's entrypoint ``pipelines/flows.py:capo_pipeline``, so it never overwrites the
deployment that `prefect deploy` made for workers (capo-nightly). On exit (Ctrl-C, SIGTERM) it
pauses only its own deployment, so no runs pile up for a server that is gone; every other
deployment is left as it was.

From the prefect.yaml deployment it copies the parameters, the tags, the concurrency limit and
every schedule: cron, interval and rrule alike, each with its timezone, anchor date, day_or,
active flag, parameters and slug. A schedule it cannot reproduce (none or several of cron,
interval and rrule; a key it does not know, such as ``replaces``) is refused with a message
that names it, before anything is registered.
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path
from typing import Any

from capo.errors import CapoError

__all__ = [
    "ENTRYPOINT",
    "add_serve_command",
    "load_deployment",
    "runner_deployment",
    "schedules_from",
    "serve",
]

ENTRYPOINT = "pipelines/flows.py:capo_pipeline"  # relative to the repository root
COMMON_KEYS = {"timezone", "active", "parameters", "slug"}
SCHEDULE_KEYS = {  # what each kind of prefect.yaml schedule may hold, besides COMMON_KEYS
    "cron": {"cron", "day_or"},
    "interval": {"interval", "anchor_date"},
    "rrule": {"rrule"},
}


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


def schedules_from(spec: dict, where: str = "prefect.yaml") -> list:
    """The ``schedules`` of a prefect.yaml deployment entry as Prefect schedules, every kind
    (cron, interval, rrule) with all it holds; a CapoError naming the schedule for one that
    cannot be reproduced exactly."""
    from prefect.client.schemas.schedules import IntervalSchedule
    from prefect.schedules import Cron, Interval, RRule

    out = []
    for i, entry in enumerate(spec.get("schedules") or []):
        name = f"{where}: deployment {spec.get('name')!r}, schedules[{i}]"
        if not isinstance(entry, dict):
            raise CapoError(f"{name}: expected a mapping, got {entry!r}")
        kinds = [kind for kind in SCHEDULE_KEYS if entry.get(kind) is not None]
        if len(kinds) != 1:
            raise CapoError(
                f"{name}: needs exactly one of cron, interval or rrule, got "
                f"{', '.join(kinds) or 'none'}"
            )
        (kind,) = kinds
        unknown = sorted(set(entry) - SCHEDULE_KEYS[kind] - COMMON_KEYS)
        if unknown:
            raise CapoError(
                f"{name}: `capo serve` cannot apply {', '.join(unknown)} to a {kind} schedule "
                f"(it applies {', '.join(sorted(SCHEDULE_KEYS[kind] | COMMON_KEYS))}); "
                "deploy this one with `prefect deploy` and a worker instead"
            )
        common = {
            "timezone": entry.get("timezone"),
            "active": bool(entry.get("active", True)),
            "parameters": entry.get("parameters") or {},
            "slug": entry.get("slug"),
        }
        try:
            if kind == "cron":
                out.append(Cron(entry["cron"], day_or=bool(entry.get("day_or", True)), **common))
            elif kind == "interval":
                # as `prefect deploy` reads it: seconds, or an ISO 8601 duration; the anchor an
                # ISO 8601 date-time (now when absent)
                fields = {"interval": entry["interval"]}
                if entry.get("anchor_date") is not None:
                    fields["anchor_date"] = entry["anchor_date"]
                parsed = IntervalSchedule(**fields)
                out.append(Interval(parsed.interval, anchor_date=parsed.anchor_date, **common))
            else:
                out.append(RRule(entry["rrule"], **common))
        except (ValueError, TypeError) as err:  # pydantic's ValidationError is a ValueError
            lines = [line.strip() for line in str(err).strip().splitlines()] or [repr(err)]
            raise CapoError(f"{name}: {' '.join(lines[:3])}") from None
    return out


def runner_deployment(args: argparse.Namespace) -> Any:
    """The deployment ``args.name`` of the repository's entrypoint, with the parameters, tags,
    concurrency limit and schedules of ``args.schedule_from`` (changes into ``args.repo``)."""
    from prefect.deployments.runner import RunnerDeployment

    repo = Path(args.repo).resolve()
    if not (repo / ENTRYPOINT.split(":")[0]).is_file():
        raise CapoError(f"{repo}: no {ENTRYPOINT.split(':')[0]} (is --repo the capo repository?)")
    spec = load_deployment(repo / args.prefect_yaml, args.schedule_from)
    schedules = schedules_from(spec, str(repo / args.prefect_yaml))
    os.chdir(repo)  # runs execute here, and the entrypoint is relative to it
    return RunnerDeployment.from_entrypoint(
        ENTRYPOINT,
        name=args.name,
        schedules=schedules,
        parameters=spec.get("parameters", {}),
        tags=[*spec.get("tags", []), "serve"],
        concurrency_limit=_concurrency_limit(spec.get("concurrency_limit")),
        description=f"`capo serve` of {repo}, on the schedule of {args.schedule_from}.",
    )


def _concurrency_limit(value: Any) -> Any:
    """prefect.yaml's ``concurrency_limit``: a number, or {limit, collision_strategy, ...}."""
    if value is None or isinstance(value, int):
        return value
    from prefect.client.schemas.objects import ConcurrencyLimitConfig

    try:
        return ConcurrencyLimitConfig(**value)
    except (TypeError, ValueError) as err:
        raise CapoError(f"concurrency_limit {value!r}: {err}") from None


def serve(args: argparse.Namespace) -> int:
    """Register ``args.name`` from the repository's entrypoint and run its schedule here."""
    from prefect import serve as prefect_serve

    deployment = runner_deployment(args)
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
        help="prefect.yaml deployment whose schedules (cron, interval, rrule), parameters, "
        "tags and concurrency limit to use (default: capo-nightly)",
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
