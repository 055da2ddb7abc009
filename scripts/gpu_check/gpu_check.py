"""The GPU check: CAPO against DPO on a SmolLM2-135M-sized Llama with random weights.

Self-contained: it needs torch, transformers, tokenizers, pandas and pyyaml (the lent GPU
machine's image has them), capo's core (capo/core/, pipelines/models/tiny.py and what they
import, read from this checkout) and trl plus datasets, which that image lacks
and which travel as wheels (scripts/gpu_check/wheels.sh fetches them; scripts/gpu-check.sh
installs them under /tmp). Nothing is downloaded: the tokenizer is trained here on the
synthetic pairs, the model is built from a config.

    bash scripts/gpu-check.sh                          # defaults: sized for an H200, minutes
    bash scripts/gpu-check.sh --tiny --out /tmp/g.json # CPU smoke run (the test's sizes)

Measures, on CUDA when torch sees it (bf16 autocast there), else on the CPU (fp32):

- timing: CAPOTrainer (loss_type capo) and TRL's DPOTrainer (sigmoid), one optimizer step
  each, alternating with the order swapped every round; median step time and the ratio
  capo/dpo (goal <= 1.03);
- memory: peak torch.cuda.max_memory_allocated of each, measured one trainer at a time
  (None on the CPU);
- study: DPO and CAPO settings (default gamma 0 / kappa 1, data confidence only, and
  gamma 1 / kappa 1) trained for a fixed number of steps on pairs with margin-style label
  noise whose annotation scores carry the noise signal, over several seeds; held-out reward
  accuracy (TRL's eval rewards/accuracies on clean pairs) per seed and mean.

Writes everything as JSON to $OUT/gpu_check.json when OUT is set, else to --out, and prints
a summary. Exits 0 whenever it measured; the goal's verdict is in the JSON and the summary.
"""

from __future__ import annotations

import argparse
import copy
import dataclasses
import gc
import importlib.util
import json
import math
import os
import platform
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
SITE = Path("/tmp/capo-gpu-site")  # where scripts/gpu-check.sh installs the carried wheels
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ.setdefault("TQDM_DISABLE", "1")  # TRL's reference log-prob bars

if importlib.util.find_spec("trl") is None:
    if SITE.is_dir():  # run directly after scripts/gpu-check.sh installed the wheels once
        sys.path.insert(0, str(SITE))
    else:
        sys.exit(
            "gpu_check: trl is not importable: run scripts/gpu-check.sh (it installs the wheels "
            "from scripts/gpu_check/wheels, fetched by scripts/gpu_check/wheels.sh)"
        )

import datasets  # noqa: E402
import torch  # noqa: E402
import transformers  # noqa: E402
import trl  # noqa: E402
from datasets import Dataset  # noqa: E402
from transformers import LlamaConfig, LlamaForCausalLM, TrainingArguments  # noqa: E402
from transformers.trainer_callback import PrinterCallback  # noqa: E402
from trl import DPOConfig, DPOTrainer  # noqa: E402

from capo.trainer import CAPOConfig, CAPOTrainer  # noqa: E402
from capo_pipelines.models.tiny import train_tokenizer  # noqa: E402

# SmolLM2-135M's shape (HuggingFaceTB/SmolLM2-135M config.json); weights are random here.
SMOLLM2_135M = dict(
    hidden=576, layers=30, heads=9, kv_heads=3, intermediate=1536, vocab=49152, max_pos=8192
)
TINY = dict(hidden=32, layers=2, heads=4, kv_heads=2, intermediate=64, vocab=512, max_pos=256)
GOAL_RATIO = 1.03
# transformers 5.24 (the project's pin) calls it activation_checkpointing; 5.17 (the GPU
# image's) only knows gradient_checkpointing, which TRL's DPOConfig turns on by default.
CHECKPOINTING = (
    "activation_checkpointing"
    if "activation_checkpointing" in {f.name for f in dataclasses.fields(TrainingArguments)}
    else "gradient_checkpointing"
)
MIB = 2**20

# The synthetic task: an answer of n words, some from GOOD, the rest from BAD; its latent
# quality is the share of GOOD words, which a model can learn (and generalise to unseen
# mixes) from a handful of steps. Prompts draw on TOPIC and carry no signal.
GOOD = [
    "clear",
    "exact",
    "correct",
    "precise",
    "honest",
    "useful",
    "careful",
    "accurate",
    "helpful",
    "valid",
    "sound",
    "true",
    "tidy",
    "brief",
    "fair",
    "proper",
    "right",
    "solid",
    "plain",
    "direct",
]
BAD = [
    "vague",
    "wrong",
    "sloppy",
    "random",
    "false",
    "broken",
    "noisy",
    "muddled",
    "garbled",
    "odd",
    "bogus",
    "stale",
    "messy",
    "rude",
    "lazy",
    "loose",
    "hollow",
    "bent",
    "idle",
    "murky",
]
TOPIC = [
    "river",
    "market",
    "garden",
    "winter",
    "number",
    "letter",
    "station",
    "window",
    "planet",
    "harbor",
    "forest",
    "engine",
    "bridge",
    "candle",
    "mirror",
    "ladder",
    "basket",
    "orbit",
    "signal",
    "meadow",
]


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--tiny", action="store_true", help="tiny model and step counts (CPU test)")
    p.add_argument("--out", help="JSON path when OUT is not set (default ./gpu_check.json)")
    p.add_argument("--device", choices=("auto", "cuda", "cpu"), default="auto")
    p.add_argument("--threads", type=int, help="torch CPU threads (default: torch's)")
    size = p.add_argument_group("model (default SmolLM2-135M's shape; --tiny: a tiny one)")
    for name in SMOLLM2_135M:
        size.add_argument(f"--{name.replace('_', '-')}", type=int, dest=name)
    run = p.add_argument_group("steps and data")
    run.add_argument("--batch", type=int, default=8, help="pairs per step")
    run.add_argument("--prompt-words", type=int, default=24)
    run.add_argument("--answer-words", type=int, default=12)
    run.add_argument("--warmup", type=int, help="untimed rounds before timing (default 5)")
    run.add_argument("--timed", type=int, help="timed steps per trainer (default 40)")
    run.add_argument("--memory-steps", type=int, help="steps per trainer for memory (3)")
    run.add_argument("--study-steps", type=int, help="training steps per study run (80)")
    run.add_argument("--seeds", type=int, help="seeds per study arm (default 3)")
    run.add_argument("--test-pairs", type=int, help="held-out clean pairs (default 256)")
    run.add_argument("--noise", type=float, default=0.3, help="share of train pairs flipped")
    run.add_argument("--score-noise", type=float, default=0.5, help="annotator score sd")
    run.add_argument("--lr", type=float, help="learning rate (default 1e-4; --tiny 1e-3)")
    run.add_argument("--beta", type=float, default=0.1)
    run.add_argument(
        "--capo-arm",
        action="append",
        metavar="GAMMA:KAPPA",
        help="a CAPO study setting; repeatable (default 0:1 and 1:1)",
    )
    run.add_argument("--skip", action="append", choices=("timing", "memory", "study"), default=[])
    args = p.parse_args(argv)
    base = TINY if args.tiny else SMOLLM2_135M
    for name, value in base.items():
        if getattr(args, name) is None:
            setattr(args, name, value)
    defaults = dict(warmup=5, timed=40, memory_steps=3, study_steps=80, seeds=3, test_pairs=256)
    tiny = dict(warmup=1, timed=3, memory_steps=1, study_steps=4, seeds=2, test_pairs=16)
    for name, value in (tiny if args.tiny else defaults).items():
        if getattr(args, name) is None:
            setattr(args, name, value)
    if args.lr is None:
        args.lr = 1e-3 if args.tiny else 1e-4
    arms = args.capo_arm or ["0:1", "1:1"]
    try:
        args.capo_arms = [tuple(float(v) for v in a.split(":")) for a in arms]
    except ValueError:
        p.error(f"--capo-arm takes GAMMA:KAPPA, got {arms}")
    if any(len(a) != 2 for a in args.capo_arms):
        p.error(f"--capo-arm takes GAMMA:KAPPA, got {arms}")
    if args.hidden % args.heads or args.heads % args.kv_heads:
        p.error("hidden must divide by heads, heads by kv-heads")
    return args


# ---------------------------------------------------------------- data


def _answer(rng: random.Random, good: int, n: int) -> str:
    words = rng.sample(GOOD, good) + [rng.choice(BAD) for _ in range(n - good)]
    rng.shuffle(words)
    return " ".join(words)


def _pair(rng: random.Random, args: argparse.Namespace) -> dict[str, Any]:
    n = args.answer_words
    hi, lo = sorted(rng.sample(range(n + 1), 2), reverse=True)  # good-word counts, hi > lo
    prompt = "Describe " + " ".join(rng.choice(TOPIC) for _ in range(args.prompt_words)) + "."
    score = lambda good: 1 + 9 * good / n + rng.gauss(0, args.score_noise)  # noqa: E731
    return {
        "prompt": [{"role": "user", "content": prompt}],
        "chosen": [{"role": "assistant", "content": _answer(rng, hi, n)}],
        "rejected": [{"role": "assistant", "content": _answer(rng, lo, n)}],
        "score_chosen": score(hi),
        "score_rejected": score(lo),
        "gap": (hi - lo) / n,
        "flipped": False,
    }


def make_pairs(n: int, args: argparse.Namespace, seed: int, noise: float) -> list[dict]:
    """n pairs; round(noise * n) of them flipped, drawn without replacement with weight
    1 / (1 + exp(gap * 10)) (Bradley-Terry in the quality gap: close pairs flip far more
    often). Scores stay with their answers, as an annotator's do when only the label is
    mistaken, so a flipped pair mostly has score_chosen < score_rejected."""
    rng = random.Random(seed)
    rows = [_pair(rng, args) for _ in range(n)]
    pool = list(range(n))
    for _ in range(round(noise * n)):
        weights = [1 / (1 + math.exp(rows[i]["gap"] * 10)) for i in pool]
        i = pool.pop(rng.choices(range(len(pool)), weights=weights)[0])
        r = rows[i]
        r["chosen"], r["rejected"] = r["rejected"], r["chosen"]
        r["score_chosen"], r["score_rejected"] = r["score_rejected"], r["score_chosen"]
        r["flipped"] = True
    return rows


def to_dataset(rows: list[dict], scores: bool = True) -> Dataset:
    keep = ["prompt", "chosen", "rejected"] + (["score_chosen", "score_rejected"] if scores else [])
    return Dataset.from_list([{k: r[k] for k in keep} for r in rows])


# ---------------------------------------------------------------- model and trainers


def build_model(args: argparse.Namespace, tok, seed: int) -> LlamaForCausalLM:
    config = LlamaConfig(
        vocab_size=max(args.vocab, len(tok)),
        hidden_size=args.hidden,
        intermediate_size=args.intermediate,
        num_hidden_layers=args.layers,
        num_attention_heads=args.heads,
        num_key_value_heads=args.kv_heads,
        head_dim=args.hidden // args.heads,
        max_position_embeddings=args.max_pos,
        rms_norm_eps=1e-5,
        rope_theta=100000.0,
        tie_word_embeddings=True,
        bos_token_id=tok.bos_token_id,
        eos_token_id=tok.eos_token_id,
        pad_token_id=tok.pad_token_id,
    )
    torch.manual_seed(seed)
    model = LlamaForCausalLM(config)
    model.generation_config.pad_token_id = tok.pad_token_id
    return model


def make_trainer(
    loss: str,
    model,
    tok,
    train: Dataset,
    args: argparse.Namespace,
    *,
    seed: int = 0,
    steps: int | None = None,
    gamma: float = 0.0,
    kappa: float = 1.0,
    eval_ds: Dataset | None = None,
    workdir: str,
):
    """CAPOTrainer (loss "capo") or TRL's DPOTrainer ("sigmoid"), the same config otherwise."""
    common = dict(
        output_dir=f"{workdir}/{loss}",
        per_device_train_batch_size=args.batch,
        per_device_eval_batch_size=args.batch,
        learning_rate=args.lr,
        beta=args.beta,
        max_steps=steps or -1,
        num_train_epochs=1,
        logging_steps=1,
        report_to="none",
        save_strategy="no",
        eval_strategy="no",
        bf16=args.bf16,
        precompute_ref_log_probs=True,
        max_length=args.max_pos,
        use_cpu=args.device == "cpu",
        seed=seed,
        data_seed=seed,
        disable_tqdm=True,
        dataloader_num_workers=0,
    )
    common[CHECKPOINTING] = False
    kw = dict(train_dataset=train, eval_dataset=eval_ds, processing_class=tok)
    if loss == "capo":
        config = CAPOConfig(loss_type="capo", gamma=gamma, kappa=kappa, **common)
        trainer = CAPOTrainer(model, args=config, **kw)
    else:
        trainer = DPOTrainer(model, args=DPOConfig(loss_type="sigmoid", **common), **kw)
    trainer.remove_callback(PrinterCallback)  # the log dicts are in the JSON
    return trainer


def prepare_for_steps(trainer) -> None:
    """What Trainer.train does before its loop, for stepping by hand: the optimizer, and
    accelerate's prepare (which adds the bf16 autocast around forward)."""
    trainer.create_optimizer()
    model, trainer.optimizer = trainer.accelerator.prepare(trainer.model, trainer.optimizer)
    trainer.model_wrapped = model
    trainer.current_gradient_accumulation_steps = 1
    model.train()


def sync(device: str) -> None:
    if device == "cuda":
        torch.cuda.synchronize()


def one_step(trainer, batch, device: str) -> tuple[float, float]:
    """(seconds, loss) of one forward/backward/optimizer step, synchronised on CUDA."""
    sync(device)
    start = time.perf_counter()
    loss = trainer.training_step(trainer.model_wrapped, batch)
    trainer.optimizer.step()
    trainer.optimizer.zero_grad(set_to_none=True)
    sync(device)
    return time.perf_counter() - start, float(loss.detach())


class DtypeProbe:
    """Records the dtype of one Linear's output: bfloat16 under bf16 autocast."""

    def __init__(self, model) -> None:
        self.seen: set[str] = set()
        layer = model.model.layers[0].mlp.down_proj
        self.handle = layer.register_forward_hook(lambda m, i, o: self.seen.add(str(o.dtype)))


def free(device: str) -> None:
    gc.collect()
    if device == "cuda":
        torch.cuda.empty_cache()


# ---------------------------------------------------------------- the three parts


def run_timing(args, tok, data, workdir) -> dict[str, Any]:
    steps = args.warmup + args.timed
    trainers, probes, batches = {}, {}, {}
    for loss in ("capo", "sigmoid"):
        model = build_model(args, tok, seed=0)
        probes[loss] = DtypeProbe(model)
        trainers[loss] = make_trainer(loss, model, tok, data, args, workdir=workdir)
        prepare_for_steps(trainers[loss])
        batches[loss] = list(trainers[loss].get_train_dataloader())
        probes[loss].seen.clear()  # keep only the stepped forwards (not the reference pass)
    times: dict[str, list[float]] = {"capo": [], "sigmoid": []}
    losses: dict[str, list[float]] = {"capo": [], "sigmoid": []}
    for i in range(steps):
        order = ("capo", "sigmoid") if i % 2 == 0 else ("sigmoid", "capo")
        for loss in order:
            dt, value = one_step(trainers[loss], batches[loss][i % len(batches[loss])], args.device)
            losses[loss].append(value)
            if i >= args.warmup:
                times[loss].append(dt)
    capo_ms = statistics.median(times["capo"]) * 1e3
    dpo_ms = statistics.median(times["sigmoid"]) * 1e3
    ratio = capo_ms / dpo_ms
    result = {
        "warmup_steps": args.warmup,
        "timed_steps": args.timed,
        "capo_ms": [round(t * 1e3, 3) for t in times["capo"]],
        "dpo_ms": [round(t * 1e3, 3) for t in times["sigmoid"]],
        "capo_median_ms": round(capo_ms, 3),
        "dpo_median_ms": round(dpo_ms, 3),
        "ratio_capo_over_dpo": round(ratio, 4),
        "goal_ratio": GOAL_RATIO,
        "meets_goal": ratio <= GOAL_RATIO,
        "losses": {"capo": losses["capo"], "dpo": losses["sigmoid"]},
        "linear_output_dtypes": {
            "capo": sorted(probes["capo"].seen),
            "dpo": sorted(probes["sigmoid"].seen),
        },
    }
    del trainers, batches
    free(args.device)
    return result


def run_memory(args, tok, data, workdir) -> dict[str, Any]:
    """Peak allocated memory per trainer, one at a time from an empty allocator."""
    if args.device != "cuda":
        return {
            "capo_peak_mib": None,
            "dpo_peak_mib": None,
            "ratio_capo_over_dpo": None,
            "note": "not measured: no CUDA device (torch.cuda.max_memory_allocated is CUDA's)",
        }
    peaks = {}
    for loss in ("capo", "sigmoid"):
        free(args.device)
        torch.cuda.reset_peak_memory_stats()
        model = build_model(args, tok, seed=0)
        trainer = make_trainer(loss, model, tok, data, args, workdir=workdir)
        prepare_for_steps(trainer)
        for i, batch in enumerate(trainer.get_train_dataloader()):
            if i >= args.memory_steps:
                break
            one_step(trainer, batch, args.device)
        peaks[loss] = torch.cuda.max_memory_allocated() / MIB
        del trainer, model, batch
    free(args.device)
    return {
        "capo_peak_mib": round(peaks["capo"], 1),
        "dpo_peak_mib": round(peaks["sigmoid"], 1),
        "ratio_capo_over_dpo": round(peaks["capo"] / peaks["sigmoid"], 4),
        "steps": args.memory_steps,
        "note": "torch.cuda.max_memory_allocated: model, optimizer state, activations",
    }


def _weights(model) -> torch.Tensor:
    return torch.cat([p.detach().float().flatten().cpu() for p in model.parameters()])


def run_study(args, tok, rows, test_rows, workdir) -> dict[str, Any]:
    train, test = to_dataset(rows), to_dataset(test_rows, scores=False)
    arms = {"dpo": ("sigmoid", 0.0, 1.0)}
    for gamma, kappa in args.capo_arms:
        arms[f"capo_g{gamma:g}_k{kappa:g}"] = ("capo", gamma, kappa)
    out: dict[str, Any] = {}
    for seed in range(args.seeds):
        base = build_model(args, tok, seed=seed)
        before = _weights(base)
        for name, (loss, gamma, kappa) in arms.items():
            model = copy.deepcopy(base)
            trainer = make_trainer(
                loss,
                model,
                tok,
                train,
                args,
                seed=seed,
                steps=args.study_steps,
                gamma=gamma,
                kappa=kappa,
                eval_ds=test,
                workdir=workdir,
            )
            start = time.perf_counter()
            trainer.train()
            metrics = trainer.evaluate()
            seconds = time.perf_counter() - start
            history = [h["loss"] for h in trainer.state.log_history if "loss" in h]
            change = (_weights(trainer.model) - before).norm() / before.norm()
            arm = out.setdefault(
                name, {"loss_type": loss, "gamma": gamma, "kappa": kappa, "seeds": []}
            )
            arm["seeds"].append(
                {
                    "seed": seed,
                    "reward_accuracy": metrics["eval_rewards/accuracies"],
                    "eval_loss": metrics["eval_loss"],
                    "steps": trainer.state.global_step,
                    "train_losses": history,
                    "relative_weight_change": float(change),
                    "seconds": round(seconds, 2),
                }
            )
            del trainer, model
            free(args.device)
    for arm in out.values():
        accs = [s["reward_accuracy"] for s in arm["seeds"]]
        arm["reward_accuracy_mean"] = statistics.fmean(accs)
        arm["reward_accuracy_sd"] = statistics.stdev(accs) if len(accs) > 1 else None
    flipped = [r for r in rows if r["flipped"]]
    return {
        "train_pairs": len(rows),
        "test_pairs": len(test_rows),
        "steps": args.study_steps,
        "noise": args.noise,
        "flipped": len(flipped),
        "flipped_with_lower_chosen_score": sum(
            r["score_chosen"] < r["score_rejected"] for r in flipped
        ),
        "clean_with_lower_chosen_score": sum(
            r["score_chosen"] < r["score_rejected"] for r in rows if not r["flipped"]
        ),
        "metric": "TRL eval rewards/accuracies on clean held-out pairs (chosen reward > rejected)",
        "arms": out,
    }


# ---------------------------------------------------------------- main


def environment(args) -> dict[str, Any]:
    env = {
        "python": platform.python_version(),
        "torch": torch.__version__,
        "transformers": transformers.__version__,
        "trl": trl.__version__,
        "trl_from": str(Path(trl.__file__).parent),
        "datasets": datasets.__version__,
        "device": args.device,
        "bf16": args.bf16,
        "checkpointing_flag": CHECKPOINTING,
    }
    if args.device == "cuda":
        props = torch.cuda.get_device_properties(0)
        env |= {"gpu": props.name, "gpu_memory_gib": round(props.total_memory / 2**30, 1)}
        env["cuda"] = torch.version.cuda
    return env


def summary(result: dict[str, Any]) -> str:
    env, lines = result["environment"], []
    lines.append(
        f"gpu-check: {env.get('gpu', 'CPU')} ({env['device']}, bf16 {env['bf16']}), torch "
        f"{env['torch']}, transformers {env['transformers']}, trl {env['trl']}, "
        f"datasets {env['datasets']}"
    )
    m = result["model"]
    lines.append(f"model: Llama, {m['parameters']:,} parameters, random weights")
    if t := result.get("timing"):
        verdict = "meets" if t["meets_goal"] else "MISSES"
        lines.append(
            f"timing: median step capo {t['capo_median_ms']:.1f} ms, dpo {t['dpo_median_ms']:.1f}"
            f" ms over {t['timed_steps']} steps each: ratio {t['ratio_capo_over_dpo']:.3f} "
            f"({verdict} the goal <= {t['goal_ratio']}); Linear outputs "
            f"{t['linear_output_dtypes']}"
        )
    if (mem := result.get("memory")) is not None:
        if mem["capo_peak_mib"] is None:
            lines.append(f"memory: {mem['note']}")
        else:
            lines.append(
                f"memory: peak capo {mem['capo_peak_mib']:.0f} MiB, dpo {mem['dpo_peak_mib']:.0f}"
                f" MiB (ratio {mem['ratio_capo_over_dpo']:.3f})"
            )
    if s := result.get("study"):
        lines.append(
            f"study: {s['train_pairs']} train pairs, {s['flipped']} flipped "
            f"({s['flipped_with_lower_chosen_score']} of them with the lower chosen score), "
            f"{s['steps']} steps, held-out reward accuracy on {s['test_pairs']} clean pairs:"
        )
        for name, arm in s["arms"].items():
            per_seed = ", ".join(f"{x['reward_accuracy']:.3f}" for x in arm["seeds"])
            lines.append(f"  {name:<16} mean {arm['reward_accuracy_mean']:.3f}  seeds [{per_seed}]")
    lines.append(f"seconds: {result['seconds']}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    datasets.disable_progress_bars()
    transformers.logging.set_verbosity_error()
    if args.device == "auto":
        args.device = "cuda" if torch.cuda.is_available() else "cpu"
    if args.device == "cuda" and not torch.cuda.is_available():
        sys.exit("gpu_check: --device cuda but torch sees no CUDA device")
    args.bf16 = args.device == "cuda" and torch.cuda.is_bf16_supported()
    out = Path(os.environ["OUT"]) / "gpu_check.json" if os.environ.get("OUT") else None
    out = out or Path(args.out or "gpu_check.json")
    seconds: dict[str, float] = {}
    start = time.perf_counter()

    n_timing = args.batch * max(args.warmup + args.timed, args.memory_steps)
    timing_rows = make_pairs(n_timing, args, seed=1000, noise=0.0)
    train_rows = make_pairs(args.batch * args.study_steps, args, seed=2000, noise=args.noise)
    test_n = max(args.batch, args.test_pairs // args.batch * args.batch)  # whole eval batches
    test_rows = make_pairs(test_n, args, seed=3000, noise=0.0)
    texts = [
        m["content"]
        for r in timing_rows[:200] + train_rows[:200]
        for m in r["prompt"] + r["chosen"] + r["rejected"]
    ]
    tok = train_tokenizer(texts, vocab_size=min(args.vocab, 3000))
    model = build_model(args, tok, seed=0)
    result: dict[str, Any] = {
        "environment": environment(args),
        "args": {k: v for k, v in vars(args).items() if k != "capo_arms"},
        "model": {
            "parameters": sum(p.numel() for p in model.parameters()),
            "config": {k: getattr(args, k) for k in SMOLLM2_135M} | {"vocab": model.vocab_size},
            "tokenizer_size": len(tok),
        },
    }
    del model
    seconds["setup"] = round(time.perf_counter() - start, 2)
    timing_ds = to_dataset(timing_rows)
    with tempfile.TemporaryDirectory(prefix="capo-gpu-check-") as workdir:
        if "memory" not in args.skip:
            t = time.perf_counter()
            result["memory"] = run_memory(args, tok, timing_ds, workdir)
            seconds["memory"] = round(time.perf_counter() - t, 2)
        if "timing" not in args.skip:
            t = time.perf_counter()
            result["timing"] = run_timing(args, tok, timing_ds, workdir)
            seconds["timing"] = round(time.perf_counter() - t, 2)
        if "study" not in args.skip:
            t = time.perf_counter()
            result["study"] = run_study(args, tok, train_rows, test_rows, workdir)
            seconds["study"] = round(time.perf_counter() - t, 2)
    seconds["total"] = round(time.perf_counter() - start, 2)
    result["seconds"] = seconds
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=1) + "\n", encoding="utf-8")
    print(summary(result))
    print(f"gpu-check: wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
