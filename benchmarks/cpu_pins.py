"""What the CPU pins cost: the train stage of the default pipeline, pinned and unpinned.

    python benchmarks/cpu_pins.py [--rounds 3] [--max-steps 30]

Builds a workspace like the default pipeline's (params.yaml; the ingest stage's code writes
the built-in benchmark's pairs; the policy is the default built-in tiny Llama, untrained:
speed does not depend on its weights; reference log-probs and capo's loss settings as their
stages write them), then runs the real train stage, ``python -m capo_pipelines.train``, in
its own process under each variant of CAPO_CPU_PINS (pipelines/cpu_pins.py): off
(unpinned), the default isa=avx2,threads=2, threads=2 alone (kernels as the CPU picks
them), and two alternatives (isa=default; 1 thread).
Variants alternate within each round, their order rotated from round to round, so load
from other jobs falls on all of them. Prints each variant's median stage wall time and
training time (the stage's train_runtime) and their ratios to the unpinned run.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TQDM_DISABLE", "1")  # before tqdm is imported

import yaml

ROOT = Path(__file__).resolve().parents[1]
VARIANTS = {
    "unpinned": "off",
    "pinned (default)": "isa=avx2,threads=2",
    "threads only": "threads=2",
    "isa=default": "isa=default,threads=2",
    "threads=1": "isa=avx2,threads=1",
}
PINS_VARS = ("CAPO_CPU_PINS", "ATEN_CPU_CAPABILITY", "MKL_CBWR", "ONEDNN_MAX_CPU_ISA")


def build_workspace(root: Path, max_steps: int) -> Path:
    """data/validated, data/reference, models/policy, data/loss_settings and params under
    ``root``, as the default pipeline's stages make them (no SFT); returns the params file."""
    from capo_pipelines.data import run_ingest
    from capo_pipelines.models.logps import reference_logps
    from capo_pipelines.models.reproducible import save_tokenizer
    from capo_pipelines.models.sft import build_builtin_policy
    from capo_pipelines.params import load_params
    from capo_pipelines.params.losses import write_loss_settings

    data = yaml.safe_load((ROOT / "params.yaml").read_text(encoding="utf-8"))
    data["train"]["max_steps"] = max_steps
    params_file = root / "params.yaml"
    params_file.write_text(yaml.safe_dump(data), encoding="utf-8")
    params = load_params(params_file)

    run_ingest(params.ingest, seed=params.seed, out_dir=root / "data/validated")
    import pandas as pd

    splits = {s: pd.read_parquet(root / f"data/validated/{s}.parquet") for s in ("train", "test")}
    texts = [t for f in splits.values() for c in ("prompt", "chosen", "rejected") for t in f[c]]
    model, tok = build_builtin_policy(params.policy, texts, seed=params.seed)
    model.save_pretrained(root / "models/policy")
    save_tokenizer(tok, root / "models/policy")
    (root / "data/reference").mkdir(parents=True, exist_ok=True)
    for split, pairs in splits.items():
        ref = reference_logps(
            model,
            tok,
            pairs,
            batch_size=params.reference.batch_size,
            max_length=params.policy.max_length,
        )
        ref.to_parquet(root / f"data/reference/{split}.parquet")
    write_loss_settings("capo", params, root / "data/loss_settings")
    return params_file


def run_train(root: Path, params: Path, pins: str, tag: str) -> tuple[float, float, str]:
    """One train stage run under CAPO_CPU_PINS=``pins``: wall seconds, train_runtime, and
    the md5 of the weights it saved."""
    env = {k: v for k, v in os.environ.items() if k not in PINS_VARS}
    env.update(CAPO_CPU_PINS=pins, TQDM_DISABLE="1")
    out = root / "runs" / tag
    cmd = [sys.executable, "-m", "capo_pipelines.train", "--params", str(params)]
    cmd += ["--loss", "capo", "--settings", str(root / "data/loss_settings/capo.json")]
    cmd += ["--policy", str(root / "models/policy"), "--pairs", str(root / "data/validated")]
    cmd += ["--reference", str(root / "data/reference"), "--out", str(out / "model")]
    cmd += ["--checkpoints", str(out / "ckpt"), "--live", str(out / "live")]
    start = time.perf_counter()
    done = subprocess.run(cmd, cwd=root, env=env, capture_output=True, text=True)
    wall = time.perf_counter() - start
    if done.returncode != 0:
        sys.exit(f"train stage failed under CAPO_CPU_PINS={pins}:\n{done.stderr[-3000:]}")
    found = re.search(r"train_runtime ([0-9.]+)", done.stderr)
    weights = hashlib.md5((out / "model/model.safetensors").read_bytes()).hexdigest()
    return wall, float(found[1]) if found else float("nan"), weights


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=3, help="runs of each variant")
    parser.add_argument(
        "--max-steps", type=int, default=-1, help="optimizer steps per run; -1: params' epochs"
    )
    args = parser.parse_args()
    import torch

    print(
        f"torch {torch.__version__}, capability {torch.backends.cpu.get_cpu_capability()}, "
        f"{os.cpu_count()} CPUs, {args.max_steps} steps, {args.rounds} rounds"
    )
    with tempfile.TemporaryDirectory(prefix="bench-cpu-pins-") as tmp:
        root = Path(tmp)
        start = time.perf_counter()
        params = build_workspace(root, args.max_steps)
        print(f"workspace built in {time.perf_counter() - start:.0f} s")
        names = list(VARIANTS)
        walls: dict[str, list[float]] = {n: [] for n in names}
        trains: dict[str, list[float]] = {n: [] for n in names}
        weights: dict[str, set[str]] = {n: set() for n in names}
        for r in range(args.rounds):
            order = names[r % len(names) :] + names[: r % len(names)]
            for name in order:
                wall, train, md5 = run_train(
                    root, params, VARIANTS[name], f"{r}-{names.index(name)}"
                )
                walls[name].append(wall)
                trains[name].append(train)
                weights[name].add(md5)
                print(f"round {r + 1} {name:17s} wall {wall:6.1f} s  train {train:6.1f} s")
    base_wall = statistics.median(walls["unpinned"])
    base_train = statistics.median(trains["unpinned"])
    print(
        "\n| variant | CAPO_CPU_PINS | median wall | ratio | median train_runtime | ratio |", end=""
    )
    print(" weights md5 |")
    print("|---|---|---|---|---|---|---|")
    for name in names:
        wall, train = statistics.median(walls[name]), statistics.median(trains[name])
        md5 = ", ".join(sorted(w[:8] for w in weights[name]))
        print(
            f"| {name} | `{VARIANTS[name]}` | {wall:.1f} s | {wall / base_wall:.3f} "
            f"| {train:.1f} s | {train / base_train:.3f} | {md5} |"
        )


if __name__ == "__main__":
    main()
