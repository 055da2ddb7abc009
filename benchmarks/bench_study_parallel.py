"""A reduced noise study sequentially and on 2 local Dask workers, side by side in one run.

2 variants (DPO and a 2-point CAPO grid) x 2 noise levels x 3 seeds on a small model: 3 seed
preparations, 4 tuning trials and 12 test trials. Both runs report to one temporary Prefect
server, started before the clock; the Dask cluster's start and stop are timed with the engine.

    python benchmarks/bench_study_parallel.py [--workers 2]
    python benchmarks/bench_study_parallel.py --params params.yaml \
        --regimes margin-0.4 --seeds 0 1 2

The second form runs the real study's trials (params.yaml's model, data sizes, variants and
grids), cut to the regimes and seeds named: trials of the size `dvc repro
studies/noise/dvc.yaml` runs, in minutes rather than the full study's half hour.

Prints the wall times and speed-up, the engine's overhead per trial (worker time not spent
inside a trial, per trial: start, transfer, result, imports) and the peak RSS of the driver
and of each worker.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import resource
import tempfile
import time
from pathlib import Path

os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
os.environ.setdefault("DO_NOT_TRACK", "1")
os.environ.setdefault("TQDM_DISABLE", "1")

RAW = {
    "ingest": {"benchmark": {"train_pairs": 240, "test_pairs": 60, "max_number": 99}},
    "policy": {"hidden_size": 64, "num_layers": 2, "num_heads": 2},
    "evaluate": {"max_new_tokens": 4},
    "study": {
        "variants": [
            {"name": "sigmoid", "loss": "sigmoid"},
            {"name": "capo", "loss": "capo", "grid": {"direction": ["down", "up"]}},
        ],
        "regimes": [
            {"name": "uniform-0.2", "noise_model": "uniform", "noise": 0.2},
            {"name": "margin-0.4", "noise_model": "margin", "noise": 0.4},
        ],
        "seeds": [0, 1, 2],
        "tune_seed": 3,
        "budget": 2,
        "validation_pairs": 60,
        "sft_epochs": 0.5,
        "compare_full_sft": False,
    },
}


def _rss_mib() -> float:
    """This process's peak RSS (VmHWM: unlike ru_maxrss, not inherited from the parent)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main() -> None:
    import yaml
    from distributed import Client

    from capo_pipelines.params import load_params
    from capo_pipelines.study_engine import _prefect_api, local_cluster, run_study_on_engine

    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument(
        "--params",
        type=Path,
        help="a params.yaml whose study to cut (default: the reduced study above)",
    )
    parser.add_argument("--regimes", nargs="+", help="with --params: the regimes to keep")
    parser.add_argument("--seeds", nargs="+", type=int, help="with --params: the seeds to keep")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-study-") as tmp, _prefect_api() as api:
        path = Path(tmp) / "params.yaml"
        path.write_text(yaml.safe_dump(RAW))
        params = load_params(str(args.params or path))
        if args.params:
            study = params.study
            regimes = [r for r in study.regimes if not args.regimes or r.name in args.regimes]
            seeds = tuple(args.seeds or study.seeds)
            study = dataclasses.replace(study, regimes=tuple(regimes), seeds=seeds)
            params = dataclasses.replace(params, study=study)
        print(
            f"study: {len(params.study.variants)} variants x {len(params.study.regimes)} "
            f"regimes x {len(params.study.seeds)} seeds"
        )
        seq = dataclasses.replace(
            params, study=dataclasses.replace(params.study, engine="sequential")
        )
        start = time.perf_counter()
        sequential = run_study_on_engine(seq, Path(tmp) / "seq")
        t_seq = time.perf_counter() - start

        start = time.perf_counter()
        with local_cluster(args.workers, {"PREFECT_API_URL": api}) as cluster:
            study = dataclasses.replace(
                params.study, engine="dask", address=cluster.scheduler_address
            )
            dask = run_study_on_engine(dataclasses.replace(params, study=study), Path(tmp) / "dask")
            with Client(cluster.scheduler_address) as client:
                workers = client.run(_rss_mib)
        t_dask = time.perf_counter() - start

    n = len(dask["trials"])
    inside = sum(t["seconds"] for t in dask["trials"])
    inside_seq = sum(t["seconds"] for t in sequential["trials"])
    overhead = (args.workers * t_dask - inside) / n
    print(f"trials: {n} ({len(dask['runs'])} test runs), failed: {len(dask['failed'])}")
    print(f"sequential: {t_seq:.1f} s wall ({inside_seq:.1f} s inside trials)")
    print(f"dask, {args.workers} workers: {t_dask:.1f} s wall incl. cluster start/stop ")
    print(f"  ({inside:.1f} s inside trials, summed over workers)")
    print(f"speed-up: {t_seq / t_dask:.2f}")
    print(f"engine overhead per trial: {overhead:.2f} s")
    print(f"peak RSS driver: {_rss_mib():.0f} MiB")
    for name, rss in sorted(workers.items()):
        print(f"peak RSS worker {name}: {rss:.0f} MiB")


if __name__ == "__main__":
    main()
