"""DVC stage `reference`: reference log-probs of every train and test pair under the policy."""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

import torch

from capo.params import load_params
from capo.policy import load_pretrained
from capo.reference import read_table, reference_logps
from pipelines._stage import run_stage

logger = logging.getLogger("capo.pipelines.reference")


def _device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(name)


def main(argv: list[str] | None = None) -> None:
    """Parse arguments, read params, write one reference table per split."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--params", default="params.yaml")
    parser.add_argument("--policy", default="models/policy")
    parser.add_argument("--pairs", default="data/validated", help="holds <split>.parquet")
    parser.add_argument("--splits", nargs="+", default=["train", "test"])
    parser.add_argument("--out", default="data/reference")
    args = parser.parse_args(argv)
    params = load_params(args.params)
    model, tokenizer = load_pretrained(args.policy, params.policy.trust_remote_code)
    model.to(_device(params.reference.device))
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    for split in args.splits:
        pairs = read_table(
            Path(args.pairs) / f"{split}.parquet", {"id", "prompt", "chosen", "rejected"}
        )
        table = reference_logps(
            model,
            tokenizer,
            pairs,
            batch_size=params.reference.batch_size,
            max_length=params.policy.max_length,
            bucket=params.reference.bucket,
            desc=f"reference log-probs ({split})",
        )
        table.to_parquet(out / f"{split}.parquet", index=False)
        logger.info("%s: %d pairs -> %s", split, len(table), out / f"{split}.parquet")


if __name__ == "__main__":
    run_stage("reference", main)
