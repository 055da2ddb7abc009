"""CAPO against TRL's DPO on a real model: SmolLM2-135M-Instruct with LoRA, batch 4.

Both trainers get the same model (loaded once from the GGUF file of scripts/fetch-smollm2.sh,
copied), the same LoRA config, the same conversational pairs of the built-in benchmark
rendered through SmolLM2's chat template, the same reference log-probs (CAPOTrainer takes
capo's reference stage columns, DPOTrainer precomputes its own: equal within 1e-4,
tests/test_real_model.py) and AdamW. CAPOTrainer runs loss_type="capo",
TRL's own DPOTrainer loss_type="sigmoid"; their optimizer steps alternate in one process
(ABAB, order swapped every round) on the same batches, so drift in machine load hits both.

    python benchmarks/bench_real_step.py [--steps 16] [--batch 4] [--threads 1]
"""

from __future__ import annotations

import argparse
import copy
import os
import statistics
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TQDM_DISABLE", "1")

import pandas as pd
import torch
from bench_trainer_step import alternate, make_trainer  # this folder is on sys.path
from datasets import Dataset
from peft import LoraConfig

from capo_pipelines.data.benchmark import generate_benchmark
from capo_pipelines.models.chat import MESSAGES, single_turn, trl_columns
from capo_pipelines.models.load import load_pretrained
from capo_pipelines.models.logps import reference_logps
from capo_pipelines.params import BenchmarkParams

ROOT = Path(__file__).resolve().parents[1]
GGUF = ROOT / ".cache/models/smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"
REF = ("ref_chosen_logps", "ref_rejected_logps")


def pairs(n: int) -> pd.DataFrame:
    """n training pairs of the built-in benchmark (all task families) as conversations."""
    params = BenchmarkParams(tasks=(), train_pairs=max(n, 90), test_pairs=9)
    rows = [r for r in generate_benchmark(params, seed=0) if r["split"] == "train"][:n]
    frame = pd.DataFrame(rows)
    frame[MESSAGES] = [
        single_turn(p, chosen=c, rejected=r)
        for p, c, r in zip(frame["prompt"], frame["chosen"], frame["rejected"], strict=True)
    ]
    return frame


def build(variant: str, model, tok, data: Dataset, args: argparse.Namespace):
    """A copy of ``model`` under the shared config of bench_trainer_step.py, with LoRA."""
    lora = LoraConfig(
        r=8, lora_alpha=16, target_modules=["q_proj", "v_proj"], task_type="CAUSAL_LM"
    )
    if variant != "capo":  # TRL's own trainer computes its reference log-probs itself
        data = data.remove_columns(list(REF))  # (the same numbers)
    return make_trainer(
        variant, copy.deepcopy(model), tok, data, batch=args.batch, max_length=256,
        peft_config=lora,
    )  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=16, help="timed rounds (each variant once)")
    parser.add_argument("--warmup", type=int, default=2, help="untimed first rounds")
    parser.add_argument("--batch", type=int, default=4)
    parser.add_argument("--batches", type=int, default=6, help="distinct batches, cycled")
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    model, tok = load_pretrained(str(GGUF))
    frame = pairs(args.batch * args.batches)
    ref = reference_logps(model, tok, frame, batch_size=8, max_length=256)
    data = Dataset.from_dict({**trl_columns(frame), **{c: ref[c].tolist() for c in REF}})
    trainers = {v: build(v, model, tok, data, args) for v in ("capo", "sigmoid")}
    times = alternate(trainers, args.warmup + args.steps, args.warmup)
    capo, dpo = statistics.median(times["capo"]), statistics.median(times["sigmoid"])
    paired = statistics.median(c / d for c, d in zip(times["capo"], times["sigmoid"], strict=True))
    tokens = next(iter(trainers["capo"].get_train_dataloader()))["input_ids"].numel()
    trainable = sum(p.numel() for p in trainers["capo"].model.parameters() if p.requires_grad)
    print(
        f"SmolLM2-135M-Instruct, LoRA r=8 q/v ({trainable / 1e6:.2f} M trainable), "
        f"batch {args.batch} pairs ({tokens} padded tokens in the first), "
        f"{args.steps} timed steps each, {args.threads} thread(s)"
    )
    print(f"median step  capo {capo:7.2f} s   sigmoid {dpo:7.2f} s")
    print(
        f"ratio capo/sigmoid: median steps {capo / dpo:.3f}, median of paired ratios {paired:.3f}"
    )
    print("(goal <= 1.03)")


if __name__ == "__main__":
    main()
