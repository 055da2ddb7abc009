"""The noise study on Dask through Prefect: equal to sequential, failures kept small, resume.

A tiny study (DPO and a 2-point CAPO grid, one regime, two seeds: 2 preparations, 2 tuning
trials and 4 test trials) on a real local Dask cluster of 2 single-threaded workers, started
and stopped by a fixture, reporting to the real Prefect test server (tests/conftest.py).
Trials run are counted in the study's store (store/attempts.jsonl), never by mocks.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from capo_pipelines.noise_study.store import TrialStore
from capo_pipelines.noise_study.trials import FAIL_ENV
from capo_pipelines.params import load_params
from tests.conftest import ROOT

pytestmark = pytest.mark.slow

TRIALS = 9  # 3 seeds prepared (2 test, 1 tuning), 2 grid points tuned, 2 variants x 2 seeds


def _params(tmp_path: Path, engine: str, address: str = "", retries: int = 1) -> Path:
    raw = {
        "ingest": {"benchmark": {"train_pairs": 60, "test_pairs": 30, "max_number": 99}},
        "policy": {"hidden_size": 32, "num_layers": 1, "num_heads": 2},
        "evaluate": {"max_new_tokens": 4},
        "study": {
            "variants": [
                {"name": "sigmoid", "loss": "sigmoid"},
                {"name": "capo", "loss": "capo", "grid": {"direction": ["down", "up"]}},
            ],
            "regimes": [{"name": "margin-0.4", "noise_model": "margin", "noise": 0.4}],
            "seeds": [0, 1],
            "tune_seed": 2,
            "budget": 2,
            "validation_pairs": 30,
            "sft_epochs": 0.5,
            "compare_full_sft": False,
            "engine": engine,
            "address": address,
            "retries": retries,
        },
    }
    path = tmp_path / f"params-{engine}.yaml"
    path.write_text(yaml.safe_dump(raw))
    return path


@pytest.fixture(scope="module")
def dask_address(prefect_server):
    """A real local Dask cluster, 2 worker processes of one thread, reporting to Prefect."""
    from distributed import LocalCluster

    env = {"PREFECT_API_URL": prefect_server, "TQDM_DISABLE": "1", "OMP_NUM_THREADS": "1"}
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])
    with LocalCluster(
        n_workers=2, threads_per_worker=1, processes=True, dashboard_address=":0", env=env
    ) as cluster:
        yield cluster.scheduler_address


def _run(params_path: Path, work: Path) -> dict:
    from capo_pipelines.study_engine import run_study_on_engine

    return run_study_on_engine(load_params(str(params_path)), work)


def _without_timings(result: dict) -> dict:
    trials = [
        {k: v for k, v in t.items() if k not in ("seconds", "host")} for t in result["trials"]
    ]
    return {**result, "trials": trials}


def test_the_engine_gives_the_sequential_result(tmp_path, dask_address):
    sequential = _run(_params(tmp_path, "sequential"), tmp_path / "seq")
    dask = _run(_params(tmp_path, "dask", dask_address), tmp_path / "dask")
    assert len(dask["trials"]) == TRIALS and not dask["failed"]
    assert {t["status"] for t in dask["trials"]} == {"ok"}
    assert json.dumps(_without_timings(dask), sort_keys=True) == json.dumps(
        _without_timings(sequential), sort_keys=True
    )
    # a rerun finds every trial in the store and runs none
    before = len(TrialStore(tmp_path / "dask" / "store").attempts())
    again = _run(_params(tmp_path, "dask", dask_address), tmp_path / "dask")
    assert len(TrialStore(tmp_path / "dask" / "store").attempts()) == before
    assert _without_timings(again) == _without_timings(dask)


def test_a_failing_trial_is_retried_recorded_and_alone_rerun(tmp_path, dask_address, monkeypatch):
    from capo_pipelines.noise_study import study_markdown, summarize_study

    params = _params(tmp_path, "dask", dask_address, retries=2)
    bad = "capo/margin-0.4/seed-1/test"
    monkeypatch.setenv(FAIL_ENV, bad)
    first = _run(params, tmp_path / "work")
    assert [f["name"] for f in first["failed"]] == [bad]
    assert "injected failure" in first["failed"][0]["error"]
    assert len(first["runs"]) == 3  # the others finished
    store = TrialStore(tmp_path / "work" / "store")
    tries = [a for a in store.attempts() if a["name"] == bad]
    assert len(tries) == 3  # the first try and study.retries retries, by Prefect
    assert store.get(tries[0]["fingerprint"])["status"] == "failed"
    text = study_markdown(first, summarize_study(first, load_params(str(params)).study), None)
    assert "## Failed trials" in text and bad in text

    monkeypatch.delenv(FAIL_ENV)
    n = len(store.attempts())
    second = _run(params, tmp_path / "work")
    assert [a["name"] for a in store.attempts()[n:]] == [bad]  # only the failed one ran
    assert not second["failed"] and len(second["runs"]) == 4


def test_a_killed_driver_resumes_from_its_finished_trials(tmp_path, dask_address, prefect_server):
    from distributed import Client

    params, work = _params(tmp_path, "dask", dask_address), tmp_path / "work"
    store = TrialStore(work / "store")
    out = tmp_path / "out"
    cmd = [sys.executable, "-m", "capo_pipelines.study", "--params", str(params)]
    cmd += ["--work-dir", str(work), "--out-json", str(out / "s.json")]
    cmd += ["--out-md", str(out / "s.md"), "--figure", str(out / "s.png")]
    env = {**os.environ, "PREFECT_API_URL": prefect_server}
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])
    driver = subprocess.Popen(cmd, cwd=tmp_path, env=env, start_new_session=True)
    try:
        deadline = time.monotonic() + 120
        while len(_finished(store)) < 2 and time.monotonic() < deadline:  # both seeds ready
            assert driver.poll() is None, "the driver ended before it could be killed"
            time.sleep(0.05)
        os.kill(driver.pid, signal.SIGKILL)
    finally:
        driver.wait(30)
    with Client(dask_address) as client:  # trials the dead driver left running may finish
        deadline = time.monotonic() + 60
        while any(client.processing().values()) and time.monotonic() < deadline:
            time.sleep(0.2)
    finished, n = _finished(store), len(store.attempts())
    assert 2 <= len(finished) < TRIALS
    result = _run(params, work)
    rerun = {a["fingerprint"] for a in store.attempts()[n:]}
    assert not rerun & finished  # nothing finished ran again
    assert len(rerun) == TRIALS - len(finished)  # everything missing did
    assert not result["failed"] and len(result["runs"]) == 4


def _finished(store: TrialStore) -> set[str]:
    return {p.stem for p in store.root.glob("*.json") if store.done(p.stem)}


def test_local_workers_keep_glibc_malloc_defaults(monkeypatch):
    """Dask's default MALLOC_TRIM_THRESHOLD_ made every trial 1.5x slower (system time in
    mmap/munmap); the study's local cluster starts its workers without it."""
    from distributed import Client

    from capo_pipelines.study_engine import local_cluster

    monkeypatch.delenv("MALLOC_TRIM_THRESHOLD_", raising=False)
    with local_cluster(1) as cluster, Client(cluster.scheduler_address) as client:
        seen = client.run(lambda: (os.environ.get("MALLOC_TRIM_THRESHOLD_"), os.getpid()))
    assert [trim for trim, _ in seen.values()] == [None]
    assert all(pid != os.getpid() for _, pid in seen.values())  # a worker process, not this one


def test_the_shipped_worker_config_is_the_engines_setting():
    """studies/noise/dask.yaml, for `dask worker` on a user's cluster, removes the same key."""
    import dask.config
    import distributed  # noqa: F401  (registers its config defaults)

    from capo_pipelines.study_engine import NO_MALLOC_TRIM

    shipped = dask.config.collect([str(ROOT / "studies/noise/dask.yaml")], env={})
    (key,) = NO_MALLOC_TRIM
    section, name = key.rsplit(".", 1)
    node = shipped
    for part in section.split("."):
        node = node[part]
    assert name in node and node[name] is None
    default = dask.config.get("distributed.nanny.pre-spawn-environ")
    assert "MALLOC_TRIM_THRESHOLD_" in default  # what it overrides still exists in Dask
