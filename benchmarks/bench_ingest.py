"""Ingest throughput and memory: pairs/s and peak RSS for JSONL sources of 20k and 200k pairs.

    .venv/bin/python benchmarks/bench_ingest.py               # 20k and 200k, language column
    .venv/bin/python benchmarks/bench_ingest.py --langid      # language identified by lingua

Each size runs in a fresh process, so its peak RSS (ru_maxrss) is its own. Memory is bounded
by chunked streaming: the acceptance bar is peak RSS at 200k <= 2x that at 20k.
"""

from __future__ import annotations

import argparse
import json
import logging
import random
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
WORDS = {
    "en": ["which", "day", "month", "comes", "after", "before", "the", "answer", "is", "clearly"],
    "de": ["welcher", "Tag", "Monat", "kommt", "nach", "vor", "die", "Antwort", "ist", "sicher"],
    "ru": ["какой", "день", "месяц", "идёт", "после", "перед", "ответ", "это", "точно"],
    "hi": ["कौन", "सा", "दिन", "महीना", "आता", "है", "के", "बाद", "पहले", "उत्तर"],
}


def write_pairs(path: Path, n: int, seed: int = 0, language_column: bool = True) -> None:
    """Write ``n`` distinct short pairs in four languages as JSONL."""
    rng = random.Random(seed)
    langs = sorted(WORDS)
    with path.open("w", encoding="utf-8") as fh:
        for i in range(n):
            lang = langs[i % len(langs)]
            words = WORDS[lang]
            row = {
                "prompt": f"{' '.join(rng.choices(words, k=8))} {i}?",
                "chosen": " ".join(rng.choices(words, k=3)),
                "rejected": " ".join(rng.choices(words, k=3)) + " x",
                "score_chosen": round(rng.uniform(6, 10), 1),
                "score_rejected": round(rng.uniform(1, 6), 1),
            }
            if language_column:
                row["language"] = lang
            fh.write(json.dumps(row, ensure_ascii=False) + "\n")


def child(path: str, out: str) -> None:
    """Ingest one file and print a JSON line with the timing and this process's peak RSS."""
    from capo_pipelines.data import run_ingest
    from capo_pipelines.params import BenchmarkParams, IngestParams, SourceParams

    params = IngestParams(
        benchmark=BenchmarkParams(enabled=False),
        sources=(SourceParams(name="bench", path=path),),
    )
    start = time.perf_counter()
    report = run_ingest(params, seed=0, out_dir=out)
    seconds = time.perf_counter() - start
    rss_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux
    print(json.dumps({"read": report["read"], "seconds": seconds, "peak_rss_mib": rss_mib}))


def measure(n: int, tmp: Path, langid: bool) -> dict:
    """Write ``n`` pairs and ingest them in a fresh process."""
    path = tmp / f"pairs-{n}.jsonl"
    write_pairs(path, n, language_column=not langid)
    cmd = [sys.executable, __file__, "--child", str(path), str(tmp / f"out-{n}")]
    proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, check=True)
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    result["pairs_per_s"] = result["read"] / result["seconds"]
    return result


def main() -> None:
    """Run the benchmark and print one line per size plus the RSS ratio."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sizes", type=int, nargs="+", default=[20_000, 200_000])
    parser.add_argument("--langid", action="store_true", help="no language column: use lingua")
    parser.add_argument("--child", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        logging.disable(logging.INFO)
        child(*args.child)
        return
    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        for n in args.sizes:
            results[n] = r = measure(n, Path(tmp), args.langid)
            print(f"{n:>8} pairs: {r['pairs_per_s']:>9.0f} pairs/s  {r['seconds']:6.1f} s  "
                  f"peak RSS {r['peak_rss_mib']:6.0f} MiB")  # fmt: skip
    small, large = min(results), max(results)
    ratio = results[large]["peak_rss_mib"] / results[small]["peak_rss_mib"]
    print(f"peak RSS ratio {large}/{small}: {ratio:.2f} (bar: <= 2.0)")


if __name__ == "__main__":
    main()
