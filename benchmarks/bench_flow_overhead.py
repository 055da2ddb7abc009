"""Prefect flow against plain `dvc repro` when nothing changed: wall times and the overhead.

Run after the pipeline is up to date (`dvc repro` once). Both variants alternate, three
rounds each, against a local temporary Prefect server (its start-up is not timed).

    python benchmarks/bench_flow_overhead.py [--repo .] [--rounds 3]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
os.environ.setdefault("DO_NOT_TRACK", "1")
os.environ.setdefault("DVC_NO_ANALYTICS", "1")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repo", default=".")
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    from prefect.testing.utilities import prefect_test_harness

    from capo_pipelines.flows import capo_pipeline, stage_order

    dvc = str(Path(sys.executable).parent / "dvc")
    repo = str(Path(args.repo).resolve())
    times: dict[str, list[float]] = {"dvc repro": [], "prefect flow": []}
    with prefect_test_harness(server_startup_timeout=120):
        capo_pipeline(repo=repo)  # warm-up; also brings the pipeline up to date
        for _ in range(args.rounds):
            start = time.perf_counter()
            subprocess.run([dvc, "repro"], cwd=repo, check=True, capture_output=True)
            times["dvc repro"].append(time.perf_counter() - start)
            start = time.perf_counter()
            runs = capo_pipeline(repo=repo)
            times["prefect flow"].append(time.perf_counter() - start)
            assert not any(r.ran for r in runs), "pipeline was not up to date"
    n = len(stage_order(repo))
    plain, flow = (statistics.median(times[k]) for k in ("dvc repro", "prefect flow"))
    print(f"{n} stages, nothing changed, median of {args.rounds} rounds")
    print(f"dvc repro     {plain:6.2f} s")
    print(f"prefect flow  {flow:6.2f} s")
    print(
        f"overhead      {flow - plain:+6.2f} s ({flow / plain:.1f}x), "
        f"{(flow - plain) / n:.2f} s per stage"
    )


if __name__ == "__main__":
    main()
