"""Start-up time of every stage entry point and `capo` command: `--help`, median of N runs.

`--help` imports the stage's module and parses arguments, then exits: what a stage pays
before it reads any data. Each run is a fresh interpreter; "torch" says whether the stage's
module imports torch (checked once, in a separate process).

    python benchmarks/bench_stage_startup.py [--repeats 5] [--only compare validate]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
STAGES = ("ingest", "validate", "policy", "reference", "train", "evaluate", "compare")
STAGES += ("register", "study")
# name -> (command line, module whose import decides whether torch is loaded)
COMMANDS = {
    s: ([sys.executable, "-m", f"capo_pipelines.{s}", "--help"], f"capo_pipelines.{s}")
    for s in STAGES
}
COMMANDS["capo check-params"] = (
    [sys.executable, "-m", "capo.cli", "check-params", "params.yaml"],
    "capo.cli",
)
COMMANDS["capo report --help"] = ([sys.executable, "-m", "capo.cli", "report", "--help"], "")


def time_once(cmd: list[str]) -> float:
    start = time.perf_counter()
    subprocess.run(cmd, cwd=ROOT, check=True, capture_output=True)
    return time.perf_counter() - start


def imports_torch(module: str) -> bool:
    code = f"import sys, {module}; print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True)
    return out.stdout.strip() == "True"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--only", nargs="*", default=None, help="names to run (default: all)")
    args = parser.parse_args()
    print(f"| command | median s | min s | max s | imports torch |  ({args.repeats} runs)")
    print("|---|---|---|---|---|")
    for name, (cmd, module) in COMMANDS.items():
        if args.only and name not in args.only:
            continue
        times = [time_once(cmd) for _ in range(args.repeats)]
        torch = ("yes" if imports_torch(module) else "no") if module else "-"
        med, lo, hi = statistics.median(times), min(times), max(times)
        print(f"| {name} | {med:.2f} | {lo:.2f} | {hi:.2f} | {torch} |", flush=True)


if __name__ == "__main__":
    main()
