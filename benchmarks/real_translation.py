"""The translate stage on real model output: SmolLM2-135M-Instruct translating English pairs.

English pairs of the built-in benchmark (every task family) go through capo's ingest exactly
as a `translate: true` source does: the causal instruct model translates prompt, chosen and
rejected through its chat template, and the language gate quarantines outputs identified as
another language. Prints, per target language, how many translated pairs were accepted and
quarantined, and a few examples of each. Nothing is tuned; the model is small and its
translations are poor, which is what the gate is for.

Then the translation confidence (issue 21): every translated chosen answer is judged right
or wrong against the benchmark's own answer in that language (casefolded, punctuation and
spaces ignored), and the AUC of translation_confidence and of each of its parts for "the
chosen translation is correct" is printed, with the share of pairs each threshold would
quarantine; the log-prob overhead (generate with and without scores, batches alternated in
one process) and the round-trip cost (a second ingest with round_trip: true on the same
cache, which translates only the back-translations).

    bash scripts/fetch-smollm2.sh
    python benchmarks/real_translation.py [--pairs 36] [--targets fr es de ru]
"""

from __future__ import annotations

import argparse
import json
import math
import os
import re
import tempfile
import time
import unicodedata
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import pandas as pd

from capo_pipelines.data import run_ingest
from capo_pipelines.data.benchmark import _items, generate_benchmark
from capo_pipelines.data.translate import Translator
from capo_pipelines.data.translate_causal import CausalTranslationModel
from capo_pipelines.data.translation_quality import assess, mean_logprobs, pair_quality
from capo_pipelines.params import BenchmarkParams, IngestParams, SourceParams, TranslationParams

ROOT = Path(__file__).resolve().parents[1]
GGUF = ROOT / ".cache/models/smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"


def english_pairs(n: int) -> list[dict]:
    """n English pairs of the built-in benchmark, all task families, train and test."""
    params = BenchmarkParams(languages=("en",), tasks=(), train_pairs=n, test_pairs=n)
    rows = generate_benchmark(params, seed=0)[:n]
    keep = ("prompt", "chosen", "rejected")
    return [{k: r[k] for k in keep} for r in rows]


def golds(targets: list[str]) -> dict[str, dict[str, str]]:
    """English prompt -> {language: the benchmark's answer in that language}."""
    params = BenchmarkParams(languages=("en", *targets), tasks=())
    return {it.prompts["en"]: it.golds for it in _items(params) if "en" in it.prompts}


def norm(text: str) -> str:
    text = unicodedata.normalize("NFKC", text).casefold()
    return " ".join(re.sub(r"[^\w\s]", " ", text).split())


def auc(scores: list[float], labels: list[bool]) -> float:
    """P(score of a positive > score of a negative), ties half (Mann-Whitney)."""
    pos = [s for s, y in zip(scores, labels, strict=True) if y]
    neg = [s for s, y in zip(scores, labels, strict=True) if not y]
    if not pos or not neg:
        return math.nan
    wins = sum((p > n) + 0.5 * (p == n) for p in pos for n in neg)
    return wins / (len(pos) * len(neg))


def logprob_overhead(translation: TranslationParams, texts: list[str], rounds: int) -> float:
    """Median ratio of generate() with scores and mean_logprobs to generate() alone, the two
    run on the same batch in turn (order swapped each round)."""
    import torch

    causal = CausalTranslationModel(translation.model, "cpu")
    tok, model = causal.tokenizer, causal.model
    ids = [causal._prompt_ids(t, "en", "fr") for t in texts]
    width = max(map(len, ids))
    pad = tok.pad_token_id if tok.pad_token_id is not None else tok.eos_token_id
    batch = torch.full((len(ids), width), pad, dtype=torch.long)
    mask = torch.zeros_like(batch)
    for row, x in enumerate(ids):
        batch[row, width - len(x) :] = torch.tensor(x)
        mask[row, width - len(x) :] = 1
    common = {"input_ids": batch, "attention_mask": mask, "do_sample": False,
              "pad_token_id": pad, "max_new_tokens": translation.max_new_tokens,
              "eos_token_id": tok.eos_token_id}  # fmt: skip

    def plain() -> None:
        model.generate(**common)

    def scored() -> None:
        gen = model.generate(**common, output_scores=True, return_dict_in_generate=True)
        mean_logprobs(model, gen, [tok.eos_token_id])

    ratios = []
    with torch.inference_mode():
        plain()  # warm-up, not timed
        for r in range(rounds):
            times = {}
            for name, fn in (("plain", plain), ("scored", scored))[:: 1 if r % 2 else -1]:
                start = time.perf_counter()
                fn()
                times[name] = time.perf_counter() - start
            ratios.append(times["scored"] / times["plain"])
    return sorted(ratios)[len(ratios) // 2]


def show(frame: pd.DataFrame, field: str, k: int) -> None:
    for _, row in frame.head(k).iterrows():
        print(f"    {row['source_prompt']!r} -> {row[field]!r}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pairs", type=int, default=36, help="English pairs to translate")
    parser.add_argument("--targets", nargs="+", default=["fr", "es", "de", "ru"])
    parser.add_argument("--examples", type=int, default=3, help="examples shown per outcome")
    parser.add_argument("--overhead-texts", type=int, default=8, help="batch of the timing")
    parser.add_argument("--overhead-rounds", type=int, default=6, help="alternated rounds")
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
        report = run_ingest(params, seed=0, out_dir=Path(tmp) / "out")
        seconds = time.perf_counter() - start
        out = Path(tmp) / "out"
        accepted = pd.concat([pd.read_parquet(out / f"{s}.parquet") for s in ("train", "test")])
        quarantine = pd.read_parquet(out / "quarantine.parquet")
        round_trip = params.translation.__class__(
            **{**params.translation.__dict__, "round_trip": True}
        )
        start = time.perf_counter()  # the forward translations are cached: only the way back
        run_ingest(
            params.__class__(**{**params.__dict__, "translation": round_trip}),
            seed=0, out_dir=Path(tmp) / "out-rt",
        )  # fmt: skip
        back_seconds = time.perf_counter() - start
        judged = judge(pairs, args.targets, round_trip)
        texts = [p["prompt"] for p in pairs][: args.overhead_texts]
        overhead = logprob_overhead(params.translation, texts, args.overhead_rounds)
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
    confidence_report(judged, report, args, seconds, back_seconds, overhead)


def judge(pairs: list[dict], targets: list[str], translation: TranslationParams) -> pd.DataFrame:
    """One row per (pair, language): the quality parts and whether chosen came out right."""
    answers = golds(targets)
    tr = Translator(translation)  # everything below comes from the cache
    rows = []
    for tgt in targets:
        texts = [p[f] for p in pairs for f in ("prompt", "chosen", "rejected")]
        out = tr.translate_scored(texts, "en", tgt)
        quality = assess(tr, texts, out, "en", tgt, round_trip=True)
        for i, pair in enumerate(pairs):
            parts = quality[3 * i : 3 * i + 3]
            no_rt = [q.__class__(q.logprob, None, q.degenerate, q.detail) for q in parts]
            gold = answers[pair["prompt"]][tgt]
            chosen = out[3 * i + 1].text
            rows.append({
                "language": tgt, "prompt": pair["prompt"], "chosen": chosen, "gold": gold,
                "correct": norm(chosen) == norm(gold),
                "pair_confidence": pair_quality(parts)[0],
                "pair_logprob_only": pair_quality(no_rt)[0],
                "chosen_logprob": parts[1].logprob_confidence,
                "chosen_round_trip": parts[1].round_trip if parts[1].round_trip is not None
                else 0.0,
                "chosen_confidence": parts[1].confidence,
                "degenerate": ",".join(q.degenerate for q in parts if q.degenerate),
            })  # fmt: skip
    return pd.DataFrame(rows)


def confidence_report(
    judged: pd.DataFrame, report: dict, args, seconds: float, back: float, overhead: float
) -> None:
    labels = judged["correct"].tolist()
    print(f"\ntranslation confidence: {len(judged)} translated pairs, chosen correct in "
          f"{sum(labels)} ({sum(labels) / len(labels):.2f})")  # fmt: skip
    print(f"{'score':<20} " + " ".join(f"{lang:>5}" for lang in [*args.targets, "all"]))
    for col in ("pair_confidence", "pair_logprob_only", "chosen_logprob", "chosen_round_trip",
                "chosen_confidence"):  # fmt: skip
        cells = []
        for lang in [*args.targets, "all"]:
            part = judged if lang == "all" else judged[judged["language"] == lang]
            cells.append(f"{auc(part[col].tolist(), part['correct'].tolist()):5.2f}")
        print(f"{col:<20} " + " ".join(cells))
    print("\nshare of pairs below a min_confidence (pair_confidence, round trip on), and the "
          "share of those whose chosen is wrong:")  # fmt: skip
    for threshold in (0.0, 0.1, 0.2, 0.3, 0.5):
        below = judged[judged["pair_confidence"] < threshold]
        wrong = (~below["correct"]).mean() if len(below) else math.nan
        print(f"  {threshold:.1f}: {len(below) / len(judged):.2f} quarantined, wrong {wrong:.2f}")
    print("ingest report translation_confidence (default min_confidence 0, no round trip):")
    for lang, summary in report["translation_confidence"].items():
        print(f"  {lang}: {summary}")
    print("examples (language, chosen translation, gold, pair confidence, correct):")
    for _, row in (
        judged.sort_values("pair_confidence").iloc[:: max(1, len(judged) // 8)].iterrows()
    ):
        print(f"  {row['language']} {row['chosen']!r:<40} {row['gold']!r:<14} "
              f"{row['pair_confidence']:.3f} {row['correct']} {row['degenerate']}")  # fmt: skip
    print(f"\nlog-prob overhead: generate with scores / without = {overhead:.3f} (median of "
          f"{args.overhead_rounds} alternated rounds, batch of {args.overhead_texts})")  # fmt: skip
    print(f"round trip: ingest without {seconds:.0f} s, back-translations alone {back:.0f} s, "
          f"cost ratio {(seconds + back) / seconds:.2f}")  # fmt: skip


if __name__ == "__main__":
    main()
