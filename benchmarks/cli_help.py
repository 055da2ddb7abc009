"""`capo --help` before and after the lazy listing, run side by side: median of N runs.

- ``eager``: the parser with every plug-in loaded, then its help (what `capo --help` did
  before: every command module imported, Prefect, DVC and torch with them);
- ``lazy``: `capo --help` as it is now (each command's help read from its source, nothing
  of the workflow imported);
- ``python``: the interpreter starting and exiting, the floor of both.

The variants alternate run by run, so a machine busy with something else slows them alike.
Wall time is printed with CPU time (user + system of the child), which a busy machine
changes less; ratios are eager / lazy.

    python benchmarks/cli_help.py [--repeats 7]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
VARIANTS = {
    "eager": "from capo.cli import build_parser; build_parser().print_help()",
    "lazy": "import sys; from capo.cli import main; sys.argv[1:] = ['--help']; main()",
    "python": "pass",
}


def time_once(code: str, expect: str = "") -> tuple[float, float]:
    """Wall and CPU seconds of one fresh interpreter running ``code`` (its output must hold
    ``expect``)."""
    before = os.times()
    start = time.perf_counter()
    proc = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True)
    wall = time.perf_counter() - start
    after = os.times()
    if proc.returncode != 0 or expect not in proc.stdout:
        raise SystemExit(f"{code!r} failed:\n{proc.stderr[-2000:]}")
    cpu = (after.children_user - before.children_user) + (
        after.children_system - before.children_system
    )
    return wall, cpu


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=7)
    args = parser.parse_args()
    wall: dict[str, list[float]] = {name: [] for name in VARIANTS}
    cpu: dict[str, list[float]] = {name: [] for name in VARIANTS}
    for _ in range(args.repeats):
        for name, code in VARIANTS.items():
            w, c = time_once(code, "" if name == "python" else "check-params")
            wall[name].append(w)
            cpu[name].append(c)
    print(f"| variant | wall s (median) | CPU s (median) |  ({args.repeats} runs each)")
    print("|---|---|---|")
    med = {n: (statistics.median(wall[n]), statistics.median(cpu[n])) for n in VARIANTS}
    for name, (w, c) in med.items():
        print(f"| {name} | {w:.3f} | {c:.3f} |")
    (ew, ec), (lw, lc) = med["eager"], med["lazy"]
    print(f"eager / lazy: wall {ew / lw:.1f}x, CPU {ec / lc:.1f}x")
    print(f"lazy `capo --help` under 0.5 s of wall time: {'yes' if lw < 0.5 else 'no'}")


if __name__ == "__main__":
    main()
