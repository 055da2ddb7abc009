"""DVC stage `reference`: reference log-probs of every train and test pair under the policy."""

from __future__ import annotations

import argparse
import logging

from capo_pipelines._stage import run_stage
from capo_pipelines.data.contract import MODEL_COLUMNS, read_split, write_split
from capo_pipelines.models.device import resolve_device
from capo_pipelines.models.load import load_pretrained
from capo_pipelines.models.logps import reference_logps
from capo_pipelines.params import load_params

logger = logging.getLogger("capo_pipelines.reference")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Command-line options; dvc.yaml passes every path."""
    parser = argparse.ArgumentParser(prog="python -m capo_pipelines.reference", description=__doc__)
    parser.add_argument("--params", default="params.yaml")
    parser.add_argument("--policy", default="models/policy")
    parser.add_argument("--pairs", default="data/validated", help="holds <split>.parquet")
    parser.add_argument("--splits", nargs="+", default=["train", "test"])
    parser.add_argument("--out", default="data/reference")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    """Parse arguments, read params, write one reference table per split."""
    args = parse_args(argv)
    params = load_params(args.params)
    model, tokenizer = load_pretrained(args.policy, params.policy.trust_remote_code)
    model.to(resolve_device(params.reference.device))
    for split in args.splits:
        table = reference_logps(
            model,
            tokenizer,
            read_split(args.pairs, split, MODEL_COLUMNS),
            batch_size=params.reference.batch_size,
            max_length=params.policy.max_length,
            bucket=params.reference.bucket,
            desc=f"reference log-probs ({split})",
        )
        path = write_split(table, args.out, split)
        logger.info("%s: %d pairs -> %s", split, len(table), path)


if __name__ == "__main__":
    run_stage("reference", main)
