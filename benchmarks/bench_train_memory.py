"""Training peak RSS: precomputed reference log-probs against TRL with a live reference model.

    python benchmarks/bench_train_memory.py [--steps 3] [--hidden 768] [--layers 10]

Each variant runs in its own fresh subprocess (peak RSS = ru_maxrss of that process):
- ``precomputed``: CAPOTrainer on a dataset that carries ref_chosen_logps/ref_rejected_logps
  columns (what the train stage does after the reference stage): no reference model.
- ``live-ref``: TRL's DPOTrainer with ``ref_model`` (a second copy of the policy) evaluated
  every step, no precomputation.
Both train the same built-in Llama (~100 M parameters at the defaults) with the same data,
batch and optimizer (AdamW) for a few steps. Prints both peaks and their ratio.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import resource
import subprocess
import sys
import time

logger = logging.getLogger("bench_train_memory")


def _pairs(n: int) -> list[dict[str, object]]:
    words = ["eins", "zwei", "drei", "भारत", "二月", "القاهرة", "двенадцать", "septiembre"]
    rows = []
    for i in range(n):
        a, b = words[i % len(words)], words[(i * 3 + 1) % len(words)]
        answer = " ".join([a] * (20 + i % 30))
        rows.append({"prompt": f"Question {i}: say {a}.", "chosen": answer, "rejected": b * 20})
    return rows


def run_variant(variant: str, steps: int, hidden: int, layers: int) -> dict[str, float]:
    """Train ``steps`` steps in this process; return peak RSS (MiB) and seconds."""
    import torch
    from datasets import Dataset
    from trl import DPOConfig, DPOTrainer

    from capo import CAPOConfig, CAPOTrainer
    from capo_pipelines.models.tiny import build_tiny_llama, train_tokenizer

    rows = _pairs(8 * steps)
    tok = train_tokenizer([r["prompt"] + r["chosen"] + r["rejected"] for r in rows], 3000)
    build = dict(hidden_size=hidden, num_layers=layers, num_heads=hidden // 64, seed=0)
    model = build_tiny_llama(tok, **build)
    common = dict(
        output_dir=f"/tmp/bench-mem-{variant}",
        per_device_train_batch_size=4,
        max_steps=steps,
        max_length=256,
        learning_rate=1e-5,
        bf16=False,
        activation_checkpointing=False,
        use_cpu=True,
        report_to="none",
        save_strategy="no",
        disable_tqdm=True,
        logging_steps=1,
        seed=0,
    )
    start = time.perf_counter()
    if variant == "precomputed":
        gen = torch.Generator().manual_seed(0)
        for row in rows:  # values do not change memory; the reference stage writes real ones
            row["ref_chosen_logps"], row["ref_rejected_logps"] = (
                -torch.rand(2, generator=gen) * 100
            ).tolist()
        trainer = CAPOTrainer(
            model,
            args=CAPOConfig(**common),
            train_dataset=Dataset.from_list(rows),
            processing_class=tok,
        )
        assert trainer.ref_model is None
    else:
        trainer = DPOTrainer(
            model,
            ref_model=build_tiny_llama(tok, **build),
            args=DPOConfig(**common),
            train_dataset=Dataset.from_list(rows),
            processing_class=tok,
        )
    trainer.train()
    params = sum(p.numel() for p in model.parameters())
    return {
        "variant": variant,
        "params_m": params / 1e6,
        "seconds": time.perf_counter() - start,
        "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--steps", type=int, default=3)
    parser.add_argument("--hidden", type=int, default=768)
    parser.add_argument("--layers", type=int, default=10)
    parser.add_argument("--variant", choices=["precomputed", "live-ref"], help="(internal)")
    args = parser.parse_args()
    if args.variant:
        print(json.dumps(run_variant(args.variant, args.steps, args.hidden, args.layers)))
        return
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    env = {**os.environ, "TQDM_DISABLE": "1", "HF_HUB_OFFLINE": "1", "CI": "1"}
    result = {}
    for variant in ("precomputed", "live-ref"):
        cmd = [
            sys.executable,
            __file__,
            "--variant",
            variant,
            "--steps",
            str(args.steps),
            "--hidden",
            str(args.hidden),
            "--layers",
            str(args.layers),
        ]
        done = subprocess.run(cmd, capture_output=True, text=True, env=env, check=True)
        result[variant] = json.loads(done.stdout.strip().splitlines()[-1])
        logger.info("%s", result[variant])
    ratio = result["precomputed"]["peak_rss_mib"] / result["live-ref"]["peak_rss_mib"]
    logger.info("peak RSS ratio precomputed / live-ref: %.2f (goal <= 0.8)", ratio)


if __name__ == "__main__":
    main()
