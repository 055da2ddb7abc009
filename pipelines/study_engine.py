"""The noise study's engine: its trials as Prefect task runs, on Dask or in this process.

    result = run_study_on_engine(params, work_dir)   # study.engine, study.address

`study.engine: dask` runs the trials on a Dask cluster through prefect-dask's DaskTaskRunner:
the one at `study.address` (a running scheduler, e.g. tcp://head:8786), or else a local
cluster started for the run and stopped after it, one single-threaded worker per CPU core
(at most `study.workers`), or one worker per GPU where CUDA is present, each seeing its own
GPU and offering a "GPU" resource. Where the cluster's workers offer "GPU", every trial asks
for one, so the scheduler places one trial per GPU. `study.engine: sequential` runs them one
after the other in this process (Prefect's thread pool with one thread).

Either way each trial is a Prefect task run named after its variant, regime, seed and split
(pipelines/noise_study/trials.py Trial.name) in one flow run, `noise-study`; Prefect retries a
failing trial `study.retries` times, then the study records it as failed and goes on. Scheduling,
workers and retries are Dask's and Prefect's: nothing of the kind is written here.
"""

from __future__ import annotations

import contextlib
import logging
import os
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

from prefect import flow, task
from prefect.cache_policies import NO_CACHE
from prefect.futures import as_completed
from prefect.task_runners import ThreadPoolTaskRunner

from capo_pipelines._stage import quiet_loggers
from capo_pipelines.noise_study.trials import Trial, execute_trial, run_study
from capo_pipelines.params import Params

__all__ = ["NO_MALLOC_TRIM", "local_cluster", "run_study_on_engine"]

logger = logging.getLogger("capo_pipelines.study_engine")


@task(cache_policy=NO_CACHE, persist_result=False, retry_delay_seconds=0)
def study_trial(trial: Trial) -> dict[str, Any]:
    """One trial of the study, run where the task runner places it (its record is stored)."""
    return execute_trial(trial)


# Dask's nannies start workers with MALLOC_TRIM_THRESHOLD_=65536 by default, which turns off
# glibc's adaptive mmap threshold: every tensor over 128 KiB is then mmap'ed and unmapped
# again. Measured on one study trial (SFT and DPO at the study's size): 29 s of system time
# instead of 4, and the trial 1.5x slower. The local cluster's workers start without it.
NO_MALLOC_TRIM = {"distributed.nanny.pre-spawn-environ.MALLOC_TRIM_THRESHOLD_": None}


def local_cluster(workers: int, env: dict[str, str] | None = None) -> Any:
    """A local Dask cluster: one worker per GPU (CUDA_VISIBLE_DEVICES and resource "GPU"
    each) where CUDA is present, else one single-threaded worker per core; ``workers`` at most.
    ``env`` is added to the workers' environment (the Prefect API they report to). Workers
    keep glibc's malloc defaults (NO_MALLOC_TRIM).
    """
    import dask
    import torch
    from distributed import LocalCluster, Nanny, Scheduler, SpecCluster

    quiet_loggers()  # distributed set its loggers to INFO on import

    gpus = torch.cuda.device_count() if torch.cuda.is_available() else 0
    level = logging.getLevelName(logging.getLogger("distributed").getEffectiveLevel())
    quiet = {"OMP_NUM_THREADS": "1", "DASK_LOGGING__DISTRIBUTED": level.lower(), **(env or {})}
    with dask.config.set(NO_MALLOC_TRIM):  # read when each nanny is made, in the constructor
        if gpus:
            spec = {
                f"gpu-{i}": {
                    "cls": Nanny,
                    "options": {
                        "nthreads": 1,
                        "resources": {"GPU": 1},
                        "env": {**quiet, "CUDA_VISIBLE_DEVICES": str(i)},
                    },
                }
                for i in range(min(gpus, workers))
            }
            scheduler = {"cls": Scheduler, "options": {"dashboard_address": ":0"}}
            return SpecCluster(workers=spec, scheduler=scheduler)
        cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
        return LocalCluster(
            n_workers=max(1, min(cores or 1, workers)),
            threads_per_worker=1,
            processes=True,
            dashboard_address=":0",
            env=quiet,
        )


@contextlib.contextmanager
def _dask_runner(params: Params) -> Iterator[tuple[Any, dict[str, float]]]:
    """A DaskTaskRunner on study.address or a local cluster, and the per-trial resources."""
    from distributed import Client
    from prefect_dask import DaskTaskRunner

    with contextlib.ExitStack() as stack:
        address = params.study.address
        if not address:
            env = {"PREFECT_API_URL": stack.enter_context(_prefect_api())}
            cluster = stack.enter_context(local_cluster(params.study.workers, env))
            address = cluster.scheduler_address
        with Client(address) as client:
            workers = client.scheduler_info(n_workers=-1)["workers"].values()
            gpu = any(w.get("resources", {}).get("GPU") for w in workers)
            logger.info(
                "noise study on Dask %s: %d workers%s", address, len(workers), gpu * " (GPU)"
            )
        yield DaskTaskRunner(address=address), {"GPU": 1} if gpu else {}


@contextlib.contextmanager
def _prefect_api() -> Iterator[str]:
    """The Prefect API this run reports to: PREFECT_API_URL, or else one temporary server
    for the driver and the local workers alike (each would otherwise start its own)."""
    from prefect.server.api.server import SubprocessASGIServer
    from prefect.settings import (
        PREFECT_API_URL,
        PREFECT_SERVER_ANALYTICS_ENABLED,
        temporary_settings,
    )

    url = PREFECT_API_URL.value()
    if url:
        yield url
        return
    # a server for this run only: no telemetry heartbeat (offline machines; it also raced
    # the first flow run for the new SQLite database, "database is locked")
    server = SubprocessASGIServer()
    try:  # stopped however this ends, a SIGTERM during start() included (capo_pipelines._stage)
        with temporary_settings({PREFECT_SERVER_ANALYTICS_ENABLED: False}):
            server.start()
        with temporary_settings({PREFECT_API_URL: server.api_url}):
            yield server.api_url
    finally:
        server.stop()


def _submitter(retries: int, resources: dict[str, float]) -> Callable:
    """run_trials for study.run_study: submit to the flow's task runner, wait for all."""

    def run_trials(trials: Sequence[Trial], advance: Callable[[], None]) -> list[Any]:
        import dask

        futures = []
        for trial in trials:
            named = study_trial.with_options(task_run_name=trial.name, retries=retries)
            annotate = dask.annotate(resources=resources) if resources else contextlib.nullcontext()
            with annotate:
                futures.append(named.submit(trial))
        for _ in as_completed(futures):
            advance()
        out = []
        for future in futures:
            state = future.state
            out.append(
                state.result(raise_on_failure=False) if state.is_failed() else future.result()
            )
        return out

    return run_trials


def run_study_on_engine(params: Params, work_dir: str | Path) -> dict[str, Any]:
    """study.run_study with the trials on `study.engine` (see the module docstring)."""
    with contextlib.ExitStack() as stack:
        if params.study.engine == "dask":
            runner, resources = stack.enter_context(_dask_runner(params))
        else:
            runner, resources = ThreadPoolTaskRunner(max_workers=1), {}
        run_trials = _submitter(params.study.retries, resources)

        @flow(
            name="noise-study", task_runner=runner, persist_result=False, validate_parameters=False
        )
        def noise_study(work: str) -> dict[str, Any]:
            return run_study(params, work, run_trials)

        return noise_study(str(work_dir))
