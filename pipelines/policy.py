"""DVC stage `policy`: build or load the starting policy, warm it up by SFT on chosen answers."""

from __future__ import annotations

import argparse
import logging

from capo_pipelines._stage import run_stage
from capo_pipelines.data.contract import read_table
from capo_pipelines.models.sft import prepare_policy
from capo_pipelines.params import load_params

logger = logging.getLogger("capo_pipelines.policy")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Command-line options; dvc.yaml passes every path."""
    parser = argparse.ArgumentParser(prog="python -m capo_pipelines.policy", description=__doc__)
    parser.add_argument("--params", default="params.yaml")
    parser.add_argument("--train", default="data/validated/train.parquet")
    parser.add_argument(
        "--demonstrations", default=None, help="clean SFT demonstrations (prompt, completion)"
    )
    parser.add_argument("--out", default="models/policy")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    """Parse arguments, read params and the validated training pairs, write the policy."""
    args = parse_args(argv)
    params = load_params(args.params)
    pairs = read_table(args.train, {"prompt", "chosen", "rejected"})
    demos = (
        read_table(args.demonstrations, {"prompt", "completion"}) if args.demonstrations else None
    )
    prepare_policy(params.policy, pairs, args.out, seed=params.seed, demonstrations=demos)
    logger.info("policy written to %s", args.out)


if __name__ == "__main__":
    run_stage("policy", main)
