"""validate stage: Great Expectations gate over data/pairs -> data/validated + reports.

    python -m capo_pipelines.validate --params params.yaml --pairs data/pairs \
        --out data/validated --reports reports

Writes accepted train/test and quarantine Parquet, reports/validation.json and Data Docs
under reports/data_docs, then exits 3 (bad input) with a summary if the gate fails.
"""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

from capo.errors import CapoError
from capo_pipelines._stage import run_stage
from capo_pipelines.params import load_params

logger = logging.getLogger("capo_pipelines.validate")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Command-line options; dvc.yaml passes every path."""
    parser = argparse.ArgumentParser(
        prog="python -m capo_pipelines.validate", description=__doc__.splitlines()[0]
    )
    parser.add_argument("--params", type=Path, default=Path("params.yaml"))
    parser.add_argument("--pairs", type=Path, default=Path("data/pairs"), help="input pairs dir")
    parser.add_argument("--out", type=Path, default=Path("data/validated"), help="output dir")
    parser.add_argument("--reports", type=Path, default=Path("reports"), help="reports dir")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    """Validate the pairs, write accepted, quarantined and reports; exit 3 if the gate fails."""
    args = parse_args(argv)
    # per-store and per-function chatter, much of it logged while GX is imported
    logging.getLogger("great_expectations").setLevel(logging.WARNING)
    from capo_pipelines.validation import (  # GX: 3 s to import
        load_pairs,
        validate_pairs,
        write_outputs,
    )

    params = load_params(args.params).validate
    run = validate_pairs(load_pairs(args.pairs), params, args.reports / "data_docs")
    write_outputs(run, args.out, args.reports)
    if not run.gate.passed:
        raise CapoError(f"{args.pairs}: {run.gate.summary()}")  # first line: input, verdict
    logger.info(run.gate.summary())


if __name__ == "__main__":
    run_stage("validate", main)
