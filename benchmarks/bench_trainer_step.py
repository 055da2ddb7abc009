"""CAPOTrainer (loss_type=capo) against TRL's DPOTrainer (sigmoid): step time and peak memory.

Both trainers get the same tiny Llama (same init), the same batches and AdamW; their
optimizer steps alternate in one process (ABAB, order swapped every round), so drift in
machine load hits both. Peak RSS is measured per variant in a fresh subprocess.

    python benchmarks/bench_trainer_step.py [--steps 60] [--hidden 256] [--layers 4]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import time

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TQDM_DISABLE", "1")

import torch
from datasets import Dataset
from trl import DPOConfig, DPOTrainer

from capo import CAPOConfig, CAPOTrainer
from capo_pipelines.models.tiny import build_tiny_llama, train_tokenizer

WORDS = [
    "alpha",
    "beta",
    "gamma",
    "delta",
    "uno",
    "dos",
    "tres",
    "eins",
    "zwei",
    "drei",
    "один",
    "два",
    "три",
    "एक",
    "दो",
    "तीन",
    "一",
    "二",
    "三",
]


def make_pairs(n: int, seed: int = 0) -> list[dict[str, str]]:
    g = torch.Generator().manual_seed(seed)

    def phrase(k: int) -> str:
        idx = torch.randint(len(WORDS), (k,), generator=g).tolist()
        return " ".join(WORDS[i] for i in idx)

    return [
        {"prompt": phrase(12) + ":", "chosen": " " + phrase(8), "rejected": " " + phrase(9)}
        for _ in range(n)
    ]


def make_trainer(variant: str, model, tok, data, *, batch: int, max_length: int, peft_config=None):
    """A ready-to-step trainer: capo's CAPOTrainer (gamma 1) or TRL's DPOTrainer (sigmoid),
    the same config otherwise (also used by bench_real_step.py)."""
    common = dict(
        output_dir=f"/tmp/capo-bench-{variant}",
        per_device_train_batch_size=batch,
        learning_rate=1e-4,
        report_to="none",
        save_strategy="no",
        bf16=False,
        activation_checkpointing=False,
        precompute_ref_log_probs=True,
        max_length=max_length,
        use_cpu=True,
        seed=0,
        disable_tqdm=True,
    )
    kwargs = dict(train_dataset=data, processing_class=tok, peft_config=peft_config)
    if variant == "capo":
        trainer = CAPOTrainer(
            model, args=CAPOConfig(loss_type="capo", gamma=1.0, **common), **kwargs
        )
    else:
        trainer = DPOTrainer(model, args=DPOConfig(loss_type="sigmoid", **common), **kwargs)
    trainer.create_optimizer()
    trainer.current_gradient_accumulation_steps = 1
    trainer.model.train()
    return trainer


def build(variant: str, args: argparse.Namespace, tok, data):
    model = build_tiny_llama(tok, hidden_size=args.hidden, num_layers=args.layers, seed=0)
    return make_trainer(variant, model, tok, data, batch=args.batch, max_length=128)


def step(trainer, batch) -> float:
    start = time.perf_counter()
    trainer.training_step(trainer.model, batch)
    trainer.optimizer.step()
    trainer.optimizer.zero_grad()
    return time.perf_counter() - start


def alternate(trainers: dict, rounds: int, warmup: int) -> dict[str, list[float]]:
    """Step times of capo and sigmoid, alternating ABAB with the order swapped every round,
    each on its own trainer's batches (cycled); the first ``warmup`` rounds are not kept."""
    batches = {v: list(t.get_train_dataloader()) for v, t in trainers.items()}
    times: dict[str, list[float]] = {"capo": [], "sigmoid": []}
    for i in range(rounds):
        order = ("capo", "sigmoid") if i % 2 == 0 else ("sigmoid", "capo")
        for v in order:
            dt = step(trainers[v], batches[v][i % len(batches[v])])
            if i >= warmup:
                times[v].append(dt)
    return times


def run_time(args: argparse.Namespace) -> None:
    torch.set_num_threads(args.threads)
    data = Dataset.from_list(make_pairs(args.batch * args.steps))
    tok = train_tokenizer([p["prompt"] + p["chosen"] + p["rejected"] for p in data], 3000)
    trainers = {v: build(v, args, tok, data) for v in ("capo", "sigmoid")}
    times = alternate(trainers, args.steps, args.warmup)
    capo, dpo = statistics.median(times["capo"]), statistics.median(times["sigmoid"])
    params = sum(p.numel() for p in trainers["capo"].model.parameters())
    print(
        f"model: {params / 1e6:.1f} M params, batch {args.batch}, "
        f"{len(times['capo'])} timed steps each, {args.threads} threads"
    )
    print(f"median step  capo {capo * 1e3:8.1f} ms   sigmoid {dpo * 1e3:8.1f} ms")
    print(f"ratio capo/sigmoid (median step time): {capo / dpo:.3f}  (goal <= 1.03)")


def run_memory(variant: str, args: argparse.Namespace) -> None:
    torch.set_num_threads(args.threads)
    data = Dataset.from_list(make_pairs(args.batch * 10))
    tok = train_tokenizer([p["prompt"] + p["chosen"] + p["rejected"] for p in data], 3000)
    trainer = build(variant, args, tok, data)
    for batch in list(trainer.get_train_dataloader())[:10]:
        step(trainer, batch)
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({"variant": variant, "peak_rss_mib": round(rss, 1)}))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=60, help="timed rounds (each variant once)")
    parser.add_argument("--warmup", type=int, default=5, help="untimed first rounds")
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--hidden", type=int, default=256)
    parser.add_argument("--layers", type=int, default=4)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--memory-only", choices=["capo", "sigmoid"], help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.memory_only:
        return run_memory(args.memory_only, args)
    run_time(args)
    for variant in ("capo", "sigmoid"):
        out = (
            subprocess.run(
                [
                    sys.executable,
                    __file__,
                    "--memory-only",
                    variant,
                    "--batch",
                    str(args.batch),
                    "--hidden",
                    str(args.hidden),
                    "--layers",
                    str(args.layers),
                ],
                check=True,
                capture_output=True,
                text=True,
            )
            .stdout.strip()
            .splitlines()[-1]
        )
        rec = json.loads(out)
        print(f"peak RSS {variant:8s}: {rec['peak_rss_mib']:.0f} MiB (10 steps, own process)")


if __name__ == "__main__":
    main()
