"""The built-in multilingual preference benchmark (DESIGN.md §4), generated offline and seeded.

    from capo.data.benchmark import generate_benchmark
    from capo.params import BenchmarkParams

    rows = generate_benchmark(BenchmarkParams(train_pairs=1500, test_pairs=400), seed=0)

Every pair asks a short question with a verifiable answer (capo.data.benchmark_tasks) in the
prompt's own language. The chosen answer is the gold answer; the rejected one is, at random,
`wrong` (another answer of the same task), `wrong_language` (the gold answer in another
language) or `near_miss` (a neighbouring number, or the gold answer misspelt). Annotation
scores on a 1-10 scale follow that grading, so near misses make low-margin pairs. In the
training split a per-language share of pairs has chosen and rejected swapped
(`label_flipped`), drawn among same-language rejections (`rejected_kind`); the scores keep
their positions, so only the model's confidence can find a flip. Questions are split by a
hash of task and key, so a test question is never trained on in any language; the test
split is clean.
"""

from __future__ import annotations

import hashlib
import random
from collections.abc import Sequence
from typing import Any

from capo.data.benchmark_prompts import PROMPTS
from capo.data.benchmark_tasks import TASKS, Item, build_items, misspell
from capo.data.schema import pair_id
from capo.errors import CapoError
from capo.params import BenchmarkParams

__all__ = ["KINDS", "SCORE_RANGES", "generate_benchmark"]

KINDS = ("wrong", "wrong_language", "near_miss")
SCORE_RANGES = {  # 1-10 annotation scale, like UltraFeedback
    "chosen": (7.5, 10.0),
    "near_miss": (6.0, 9.0),
    "wrong_language": (3.5, 6.5),
    "wrong": (1.0, 4.0),
}
_TRIES_PER_PAIR = 30


def generate_benchmark(params: BenchmarkParams, seed: int) -> list[dict[str, Any]]:
    """Rows in the pair schema: per language, ``train`` pairs then ``test`` pairs."""
    tasks = _check(params)
    items = build_items(tasks, params.languages, params.max_number)
    total = params.train_pairs + params.test_pairs
    test_share = params.test_pairs / total if total else 0.0
    index = {(it.task, it.key): it for it in items}
    rows: list[dict[str, Any]] = []
    for i, lang in enumerate(params.languages):
        for split, pairs in (("train", params.train_pairs), ("test", params.test_pairs)):
            n = pairs // len(params.languages) + (i < pairs % len(params.languages))
            pool = [
                it
                for it in items
                if lang in it.golds and _is_test(it, test_share) == (split == "test")
            ]
            rng = random.Random(f"capo-benchmark:{seed}:{lang}:{split}")
            made = _sample(pool, lang, n, rng, index, params.unscored_rate)
            for row in made:
                row["split"] = split
            if split == "train":
                _flip(made, params.flip_rates.get(lang, 0.0), rng)
            rows.extend(made)
    return rows


def _check(params: BenchmarkParams) -> tuple[str, ...]:
    tasks = params.tasks or TASKS
    unknown = [t for t in tasks if t not in PROMPTS]
    if unknown:
        raise CapoError(f"ingest.benchmark.tasks: unknown task {unknown[0]!r} (known: {TASKS})")
    known = {lang for prompts in PROMPTS.values() for lang in prompts}
    bad = [lang for lang in params.languages if lang not in known]
    if bad:
        raise CapoError(
            f"ingest.benchmark.languages: no prompts for {bad[0]!r} (have {sorted(known)})"
        )
    return tuple(tasks)


def _is_test(item: Item, share: float) -> bool:
    digest = hashlib.sha1(f"{item.task}:{item.key}".encode()).hexdigest()
    return int(digest[:8], 16) / 2**32 < share


def _sample(
    pool: Sequence[Item], lang: str, n: int, rng: random.Random, index: dict, unscored: float
) -> list[dict[str, Any]]:
    by_task: dict[str, list[Item]] = {}
    for it in pool:
        by_task.setdefault(it.task, []).append(it)
    if n and not by_task:
        raise CapoError(f"ingest.benchmark: no questions for language {lang!r}; add tasks")
    tasks, seen, rows = sorted(by_task), set(), []
    for _ in range(n * _TRIES_PER_PAIR):
        if len(rows) == n:
            break
        item = rng.choice(by_task[rng.choice(tasks)])
        kind = rng.choice(KINDS)
        rejected = _negative(kind, item, lang, rng, by_task[item.task], index)
        if rejected is None or (item.task, item.key, rejected) in seen:
            continue
        seen.add((item.task, item.key, rejected))
        rows.append(_row(item, lang, rejected, kind, rng, unscored))
    if len(rows) < n:
        raise CapoError(
            f"ingest.benchmark: only {len(rows)} distinct pairs for {lang!r}, asked {n}"
        )
    return rows


def _negative(
    kind: str, item: Item, lang: str, rng: random.Random, same_task: Sequence[Item], index: dict
) -> str | None:
    gold = item.golds[lang]
    if kind == "wrong":
        options = sorted({it.golds[lang] for it in same_task} - {gold})
    elif kind == "wrong_language":
        options = sorted({g for g in item.golds.values() if g != gold})
    elif item.task == "number_words":  # near miss: the neighbouring number
        near = [index.get((item.task, str(int(item.key) + d))) for d in (-1, 1)]
        options = sorted({it.golds[lang] for it in near if it and lang in it.golds} - {gold})
    else:
        return misspell(gold, rng)
    return rng.choice(options) if options else None


def _score(kind: str, rng: random.Random) -> float:
    low, high = SCORE_RANGES[kind]
    return round(rng.uniform(low, high), 1)


def _row(
    item: Item, lang: str, rejected: str, kind: str, rng: random.Random, unscored: float
) -> dict[str, Any]:
    prompt, gold = item.prompts[lang], item.golds[lang]
    scored = rng.random() >= unscored
    return {
        "id": pair_id(lang, prompt, gold, rejected),
        "language": lang,
        "prompt": prompt,
        "chosen": gold,
        "rejected": rejected,
        "score_chosen": _score("chosen", rng) if scored else None,
        "score_rejected": _score(kind, rng) if scored else None,
        "source": "benchmark",
        "translated_from": None,
        "label_flipped": False,
        "gold": gold,
        "task": item.task,
        "rejected_kind": kind,
    }


def _flip(rows: list[dict[str, Any]], rate: float, rng: random.Random) -> None:
    """Swap chosen and rejected in round(rate * len(rows)) rows; scores stay in place.

    Only same-language rejections are flipped: an annotator may confuse a near miss or a
    wrong answer with the right one, but does not prefer an answer in another language
    (which the validate stage's language check would catch anyway).
    """
    eligible = [i for i, row in enumerate(rows) if row["rejected_kind"] != "wrong_language"]
    wanted = round(rate * len(rows))
    if wanted > len(eligible):
        raise CapoError(
            f"ingest.benchmark.flip_rates: {rate} asks {wanted} flips, only {len(eligible)} "
            "pairs have a same-language rejected answer"
        )
    for i in sorted(rng.sample(eligible, wanted)):
        row = rows[i]
        row["chosen"], row["rejected"] = row["rejected"], row["chosen"]
        row["label_flipped"] = True
        row["id"] = pair_id(row["language"], row["prompt"], row["chosen"], row["rejected"])
