"""The translate stage on real model output: SmolLM2-135M-Instruct translating English pairs.

English pairs of the built-in benchmark (every task family) go through capo's ingest exactly
as a `translate: true` source does: the causal instruct model translates prompt, chosen and
rejected through its chat template, and the language gate quarantines outputs identified as
another language. Prints, per target language, how many translated pairs were accepted and
quarantined, and a few examples of each. Nothing is tuned; the model is small and its
translations are poor, which is what the gate is for.

    bash scripts/fetch-smollm2.sh
    python benchmarks/real_translation.py [--pairs 36] [--targets fr es de ru]
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import pandas as pd

from capo.data import run_ingest
from capo.data.benchmark import generate_benchmark
from capo.params import BenchmarkParams, IngestParams, SourceParams, TranslationParams

ROOT = Path(__file__).resolve().parents[1]
GGUF = ROOT / ".cache/models/smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"


def english_pairs(n: int) -> list[dict]:
    """n English pairs of the built-in benchmark, all task families, train and test."""
    params = BenchmarkParams(languages=("en",), tasks=(), train_pairs=n, test_pairs=n)
    rows = generate_benchmark(params, seed=0)[:n]
    keep = ("prompt", "chosen", "rejected")
    return [{k: r[k] for k in keep} for r in rows]


def show(frame: pd.DataFrame, field: str, k: int) -> None:
    for _, row in frame.head(k).iterrows():
        print(f"    {row['source_prompt']!r} -> {row[field]!r}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pairs", type=int, default=36, help="English pairs to translate")
    parser.add_argument("--targets", nargs="+", default=["fr", "es", "de", "ru"])
    parser.add_argument("--examples", type=int, default=3, help="examples shown per outcome")
    args = parser.parse_args()
    if not GGUF.exists():
        raise SystemExit(f"{GGUF} is missing: run bash scripts/fetch-smollm2.sh")
    with tempfile.TemporaryDirectory(prefix="capo-real-translation-") as tmp:
        src = Path(tmp) / "english.jsonl"
        pairs = english_pairs(args.pairs)
        src.write_text("".join(json.dumps(p) + "\n" for p in pairs), encoding="utf-8")
        params = IngestParams(
            languages=("en", *args.targets),
            benchmark=BenchmarkParams(enabled=False),
            sources=(SourceParams(name="english", path=str(src), language="en", translate=True),),
            translation=TranslationParams(
                model=str(GGUF), targets=tuple(args.targets), batch_size=8, max_new_tokens=64,
                device="cpu", cache_dir=str(Path(tmp) / "cache"),
            ),
            chat_format="text",
        )  # fmt: skip
        start = time.perf_counter()
        run_ingest(params, seed=0, out_dir=Path(tmp) / "out")
        seconds = time.perf_counter() - start
        out = Path(tmp) / "out"
        accepted = pd.concat([pd.read_parquet(out / f"{s}.parquet") for s in ("train", "test")])
        quarantine = pd.read_parquet(out / "quarantine.parquet")
    english = {p["prompt"] for p in pairs}
    by_id = accepted[accepted["language"] == "en"].set_index("id")["prompt"].to_dict()
    accepted["source_prompt"] = accepted["translated_from"].map(by_id)
    print(f"SmolLM2-135M-Instruct (Q4_1 GGUF, dequantized), {len(pairs)} English pairs, greedy,")
    print(f"ingest with translation on CPU: {seconds:.0f} s ({len(english)} distinct prompts)")
    print(f"{'language':<9} {'accepted':>8} {'quarantined':>11}  rejected share")
    for lang in args.targets:
        acc = accepted[accepted["language"] == lang]
        qua = quarantine[quarantine["language"] == lang]
        total = len(acc) + len(qua)
        print(f"{lang:<9} {len(acc):>8} {len(qua):>11}  {len(qua) / max(total, 1):.2f}")
    for lang in args.targets:
        print(f"\n{lang}: accepted (English prompt -> translated prompt)")
        show(accepted[accepted["language"] == lang], "prompt", args.examples)
        print(f"{lang}: quarantined (reason: raw row)")
        for _, row in quarantine[quarantine["language"] == lang].head(args.examples).iterrows():
            print(f"    {row['reason']}: {str(row['raw'])[:160]!r}")


if __name__ == "__main__":
    main()
