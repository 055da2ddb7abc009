"""DVC stage `ingest`: read, check, translate and split preference pairs into data/pairs.

python -m capo_pipelines.ingest --params params.yaml --out data/pairs
"""

from __future__ import annotations

import argparse
import logging

from capo_pipelines._stage import run_stage
from capo_pipelines.data import run_ingest
from capo_pipelines.data.benchmark import write_demonstrations
from capo_pipelines.params import load_params

logger = logging.getLogger("capo_pipelines.ingest")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Command-line options: the params file and the output folder (paths come from dvc.yaml)."""
    parser = argparse.ArgumentParser(prog="python -m capo_pipelines.ingest", description=__doc__)
    parser.add_argument("--params", default="params.yaml", help="params file (section ingest:)")
    parser.add_argument("--out", default="data/pairs", help="output folder for the pair files")
    parser.add_argument(
        "--demonstrations",
        default=None,
        help="where to write the benchmark's clean SFT demonstrations (default: OUT/sft.parquet)",
    )
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    """Run the ingest stage."""
    args = parse_args(argv)
    params = load_params(args.params)
    report = run_ingest(params.ingest, seed=params.seed, out_dir=args.out)
    demos = args.demonstrations or f"{args.out}/sft.parquet"
    logger.info(
        "wrote %d SFT demonstrations to %s",
        write_demonstrations(params.ingest.benchmark, params.seed, demos),
        demos,
    )
    logger.info(
        "wrote %s: %d train, %d test, %d quarantined",
        args.out,
        report["splits"]["train"],
        report["splits"]["test"],
        report["quarantined"],
    )


if __name__ == "__main__":
    run_stage("ingest", main)
