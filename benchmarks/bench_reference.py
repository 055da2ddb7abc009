"""Reference stage throughput: length-bucketed batches against in-order batches (plain padding).

    python benchmarks/bench_reference.py [--pairs 800] [--batch-size 32] [--repeats 3]

Two data sets: the built-in multilingual benchmark (pipelines/data/benchmark.py,
short answers) and a
heavy-tailed mix like real chat preference data (response lengths log-normal, median ~40
tokens, a few near max_length), built from the same benchmark text. The policy is the
default built-in tiny Llama (params.yaml `policy:`), randomly initialised: throughput does
not depend on training. Prints pairs/s for each variant and the ratio.
"""

from __future__ import annotations

import argparse
import logging
import os
import random
import time

os.environ.setdefault("TQDM_DISABLE", "1")  # before tqdm is imported

import pandas as pd
import torch

from capo_pipelines.models.logps import reference_logps
from capo_pipelines.models.sft import build_builtin_policy
from capo_pipelines.params import PolicyParams

logger = logging.getLogger("bench_reference")


def benchmark_pairs(n: int, seed: int) -> pd.DataFrame:
    """The built-in benchmark's training pairs."""
    from capo_pipelines.data.benchmark import generate_benchmark
    from capo_pipelines.params import BenchmarkParams

    rows = generate_benchmark(BenchmarkParams(train_pairs=n, test_pairs=0), seed=seed)
    return pd.DataFrame(rows).reset_index(drop=True)


def heavy_tailed(pairs: pd.DataFrame, seed: int) -> pd.DataFrame:
    """Responses stretched to log-normal lengths by repeating benchmark answers of the language."""
    rng = random.Random(seed)
    pool = pairs.groupby("language")["chosen"].apply(list).to_dict()
    out = pairs.copy()
    for col in ("chosen", "rejected"):
        texts = []
        for lang, text in zip(out["language"], out[col], strict=True):
            words = min(int(rng.lognormvariate(3.0, 1.0)), 150)
            texts.append(" ".join([text, *rng.choices(pool[lang], k=words)]))
        out[col] = texts
    return out


def compare(model, tok, pairs: pd.DataFrame, batch_size: int, repeats: int):
    """Best pairs/s of in-order and bucketed runs, alternated (order swapped each round)."""
    best = {False: float("inf"), True: float("inf")}
    tables = {}
    for round_ in range(repeats):
        for bucket in (False, True) if round_ % 2 == 0 else (True, False):
            start = time.perf_counter()
            tables[bucket] = reference_logps(
                model, tok, pairs, batch_size=batch_size, max_length=256, bucket=bucket
            )
            best[bucket] = min(best[bucket], time.perf_counter() - start)
    return len(pairs) / best[False], len(pairs) / best[True], tables[False], tables[True]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--pairs", type=int, default=800)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    torch.manual_seed(0)
    base = benchmark_pairs(args.pairs, seed=0)
    texts = [*base["prompt"], *base["chosen"], *base["rejected"]]
    model, tok = build_builtin_policy(PolicyParams(), texts, seed=0)
    model.eval()
    logger.info("torch threads: %d", torch.get_num_threads())
    for name, pairs in (("benchmark", base), ("heavy-tailed", heavy_tailed(base, seed=0))):
        plain, bucketed, t_plain, t_bucket = compare(
            model, tok, pairs, args.batch_size, args.repeats
        )
        diff = (t_plain["ref_chosen_logps"] - t_bucket["ref_chosen_logps"]).abs().max()
        tokens = (t_plain["prompt_tokens"] + t_plain["chosen_tokens"]).describe()
        logger.info(
            "%s: %d pairs, tokens/seq median %.0f max %.0f | in-order %.1f pairs/s | "
            "bucketed %.1f pairs/s | ratio %.2f | max |diff| %.1e",
            name,
            len(pairs),
            tokens["50%"],
            tokens["max"],
            plain,
            bucketed,
            bucketed / plain,
            diff,
        )


if __name__ == "__main__":
    main()
