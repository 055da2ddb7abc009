"""The built-in multilingual preference benchmark (docs/design.md §3): offline and seeded.

    from capo_pipelines.data.benchmark import demonstrations, generate_benchmark
    from capo_pipelines.params import BenchmarkParams

    rows = generate_benchmark(BenchmarkParams(train_pairs=1500, test_pairs=900), seed=0)
    sft_rows = demonstrations(BenchmarkParams(), seed=0)   # clean gold answers, for SFT

Every pair asks a short question with a verifiable answer (benchmark_tasks.py) in the
prompt's own language. The chosen answer is the gold answer; the rejected one is, at random,
`wrong` (another answer of the same task), `wrong_language` (the gold answer in another
language) or `near_miss` (a neighbouring number, or the gold answer misspelt). Annotation
scores on a 1-10 scale follow that grading, so near misses make low-margin pairs.

Questions are split by a hash of task and key into train, validation and test
(``test_share``, ``validation_share``), so a held-out number is asked in no language in
training; number words are compositional, so its answer is derivable from trained numbers.
The test and validation splits are clean.

Label noise hits the training pairs whose preference the model can learn: the same-language
pairs (`wrong`, `near_miss`; an annotator does not prefer an answer in another language).
``noise_model`` says how, and every model records the truth in ``label_flipped`` and
``noise_kind`` (ground truth that no loss reads). A language whose noise rate
(``noise_by_language``, else ``noise``) is 0 stays clean under every model.

- ``uniform`` (the negative control): a uniform random share ``noise`` of the pairs is
  corrupted: most are flipped (chosen and rejected swapped), a share ``corrupt_share`` has
  its chosen answer replaced by a near miss of the gold answer. Scores keep their positions
  (the high score stays on `chosen`), so no annotation signal can find the noise.
- ``margin``: every answer has a latent quality (QUALITY_RANGES: gold above near miss above
  the rest). Exactly round(noise * eligible) pairs are flipped, drawn without replacement
  with weights 1 / (1 + exp(gap)) (Bradley-Terry in the quality gap), so close pairs are
  flipped far more often. Scores are quality + N(0, ``score_noise``) and stay with their
  answers, as an annotator's scores do when only the label is mistaken.
- ``derived``: one noisy annotator scores each answer (quality + N(0, ``score_noise``)) and
  the label is whichever scored higher, as UltraFeedback-style data is binarized. ``noise``
  is not used: the flip rate is whatever the annotator noise gives (``realized_noise``).
- ``translation``: the non-English pairs are simulated translations of English ones. A
  share ``noise`` of them is corrupted as under ``uniform`` (the translation broke the
  pair), and every non-English training pair gets a ``translation_confidence`` in [0, 1],
  sigmoid(z) with z ~ N(+d/2, 1) for an intact and N(-d/2, 1) for a corrupted translation,
  d = ``translation_separation``: its AUC for "intact" is Phi(d / sqrt 2) (0.86 at 1.5).

Noise is drawn from its own random streams in a fixed order, so the pairs are the same at
every noise level and model, and the noisy pairs at 0.2 are a subset of those at 0.4.

SFT demonstrations (``demonstrations``) are the gold answers of the training questions. With
``sft_questions: disjoint`` the training questions are split in half by a stable hash: the
preference pairs ask one half and the demonstrations answer the other, so no question (in
any language) is in both; ``sft_share`` keeps a seeded share of the SFT questions. The
reference then knows less about the preference questions, as a real SFT model does.
"""

from __future__ import annotations

import hashlib
import math
import random
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from capo.errors import CapoError
from capo_pipelines.data.benchmark_prompts import PROMPTS
from capo_pipelines.data.benchmark_tasks import TASKS, Item, build_items, misspell
from capo_pipelines.data.contract import pair_id
from capo_pipelines.params import BenchmarkParams

__all__ = [
    "DEMONSTRATION_COLUMNS",
    "KINDS",
    "NOISE_KINDS",
    "QUALITY_RANGES",
    "SCORE_RANGES",
    "demonstrations",
    "generate_benchmark",
    "preference_questions",
    "realized_noise",
    "split_of",
    "write_demonstrations",
]

KINDS = ("wrong", "wrong_language", "near_miss")
NOISE_KINDS = ("flip", "corrupted_chosen")
SCORE_RANGES = {  # 1-10 annotation scale, like UltraFeedback
    "chosen": (7.5, 10.0),
    "near_miss": (6.0, 9.0),
    "wrong_language": (3.5, 6.5),
    "wrong": (1.0, 4.0),
}
QUALITY_RANGES = {  # latent answer quality of the margin and derived noise models
    "chosen": (8.0, 10.0),
    "near_miss": (5.5, 8.0),
    "wrong_language": (3.0, 5.5),
    "wrong": (1.0, 3.0),
}
SOURCE_LANGUAGE = "en"  # the translation noise model translates from English
DEMONSTRATION_COLUMNS = ("language", "prompt", "completion", "task")
_TRIES_PER_PAIR = 30


def generate_benchmark(
    params: BenchmarkParams, seed: int, validation_pairs: int = 0
) -> list[dict[str, Any]]:
    """Rows in the pair schema: per language, train, then validation, then test pairs."""
    items = _items(params)
    index = {(it.task, it.key): it for it in items}
    counts = (
        ("train", params.train_pairs),
        ("validation", validation_pairs),
        ("test", params.test_pairs),
    )
    rows: list[dict[str, Any]] = []
    for i, lang in enumerate(params.languages):
        for split, pairs in counts:
            n = pairs // len(params.languages) + (i < pairs % len(params.languages))
            pool = [it for it in items if lang in it.golds and split_of(it, params) == split]
            if split == "train" and params.sft_questions == "disjoint":
                pool = [it for it in pool if not _sft_question(it)]
            rng = random.Random(f"capo-benchmark:{seed}:{lang}:{split}")
            made = _sample(pool, lang, n, rng, index, params.unscored_rate)
            for row in made:
                row["split"] = split
            if split == "train":
                _noisy(made, params, seed, lang, index)
            rows.extend(made)
    return rows


def _noisy(
    rows: list[dict[str, Any]], params: BenchmarkParams, seed: int, lang: str, index: dict
) -> None:
    """Apply ``params.noise_model`` to one language's training rows (in place)."""
    rate, model = params.noise_rate(lang), params.noise_model
    noise_rng = random.Random(f"capo-benchmark-noise:{seed}:{lang}")
    if model == "uniform":
        _add_noise(rows, rate, params.corrupt_share, noise_rng, index)
        return
    stream = random.Random(f"capo-benchmark-{model}:{seed}:{lang}")
    if model == "translation":
        if lang == SOURCE_LANGUAGE:
            return
        _add_noise(rows, rate, params.corrupt_share, noise_rng, index)
        sep = params.translation_separation
        for row in rows:
            z = stream.gauss(-sep / 2 if row["label_flipped"] else sep / 2, 1.0)
            row["translation_confidence"] = round(1 / (1 + math.exp(-z)), 4)
        return
    qualities = [_qualities(row, stream) for row in rows]
    if model == "margin":
        _margin_flips(rows, qualities, rate, stream)
    elif params.noise_by_language.get(lang, 1.0) > 0:  # derived: a language set to 0 is clean
        _derived_labels(rows, qualities, stream, params.score_noise)
    for row, (q_gold, q_other) in zip(rows, qualities, strict=True):
        if row["score_chosen"] is None:
            continue  # unscored pairs publish no scores (their label is still drawn)
        s_gold, s_other = row.pop("_scores", None) or (
            q_gold + stream.gauss(0, params.score_noise),
            q_other + stream.gauss(0, params.score_noise),
        )
        flipped = row["noise_kind"] == "flip"
        row["score_chosen"] = round(s_other if flipped else s_gold, 2)
        row["score_rejected"] = round(s_gold if flipped else s_other, 2)
    for row in rows:
        row.pop("_scores", None)


def _qualities(row: dict[str, Any], rng: random.Random) -> tuple[float, float]:
    """Latent quality of the gold answer and of the other (rejected) answer."""
    return rng.uniform(*QUALITY_RANGES["chosen"]), rng.uniform(
        *QUALITY_RANGES[row["rejected_kind"]]
    )


def _flip(row: dict[str, Any]) -> None:
    row["chosen"], row["rejected"] = row["rejected"], row["chosen"]
    row["label_flipped"], row["noise_kind"] = True, "flip"
    row["id"] = pair_id(row["language"], row["prompt"], row["chosen"], row["rejected"])


def _margin_flips(
    rows: list[dict[str, Any]],
    qualities: list[tuple[float, float]],
    rate: float,
    rng: random.Random,
) -> None:
    """Flip round(rate * eligible) same-language pairs, weighted by 1 / (1 + exp(gap)).

    Weighted sampling without replacement by Efraimidis-Spirakis keys u^(1/p): the keys are
    drawn before the rate is applied, so a higher rate flips a superset.
    """
    eligible = [i for i, row in enumerate(rows) if row["rejected_kind"] != "wrong_language"]
    keys = []
    for i in eligible:
        gap = qualities[i][0] - qualities[i][1]
        p = 1 / (1 + math.exp(gap))
        keys.append((rng.random() ** (1 / p), i))
    keys.sort(reverse=True)
    for _, i in keys[: round(rate * len(eligible))]:
        _flip(rows[i])


def _derived_labels(
    rows: list[dict[str, Any]], qualities: list[tuple[float, float]], rng: random.Random, sd: float
) -> None:
    """One noisy annotator scores both answers; a same-language pair takes its label from them."""
    for row, (q_gold, q_other) in zip(rows, qualities, strict=True):
        s_gold, s_other = q_gold + rng.gauss(0, sd), q_other + rng.gauss(0, sd)
        row["_scores"] = (s_gold, s_other)
        if row["rejected_kind"] != "wrong_language" and s_other > s_gold:
            _flip(row)


def realized_noise(rows: Sequence[dict[str, Any]]) -> float:
    """Share of same-language training pairs whose label is corrupted (label_flipped)."""
    eligible = [
        r for r in rows if r.get("split") == "train" and r["rejected_kind"] != "wrong_language"
    ]
    return sum(bool(r["label_flipped"]) for r in eligible) / max(len(eligible), 1)


def demonstrations(params: BenchmarkParams, seed: int) -> list[dict[str, Any]]:
    """Clean SFT demonstrations: the training questions in every language, gold answer.

    Rows {language, prompt, completion, task}, in a seeded order. These are what a real
    pipeline fine-tunes on before preference tuning; never the (noisy) preference pairs.
    ``sft_questions: disjoint`` keeps the SFT half of the training questions, which no
    training pair asks; ``sft_share`` keeps a seeded share of those.
    """
    items = [it for it in _items(params) if split_of(it, params) == "train"]
    if params.sft_questions == "disjoint":
        items = [it for it in items if _sft_question(it)]
    if params.sft_share < 1:
        keep = random.Random(f"capo-sft-share:{seed}")
        items = [it for it in items if keep.random() < params.sft_share]
    rows = [
        {
            "language": lang,
            "prompt": it.prompts[lang],
            "completion": it.golds[lang],
            "task": it.task,
        }
        for it in items
        for lang in params.languages
        if lang in it.golds
    ]
    random.Random(f"capo-demonstrations:{seed}").shuffle(rows)
    return rows


def preference_questions(params: BenchmarkParams, seed: int) -> set[tuple[str, str]]:
    """(task, key) of every question that a training pair asks, in any language."""
    by_prompt = {
        (lang, prompt): (it.task, it.key)
        for it in _items(params)
        for lang, prompt in it.prompts.items()
    }
    rows = generate_benchmark(params, seed)
    return {by_prompt[(r["language"], r["prompt"])] for r in rows if r["split"] == "train"}


def write_demonstrations(params: BenchmarkParams, seed: int, path: str | Path) -> int:
    """Write ``demonstrations`` as Parquet (an empty table when the benchmark is off)."""
    rows = demonstrations(params, seed) if params.enabled else []
    frame = pd.DataFrame(rows, columns=list(DEMONSTRATION_COLUMNS))
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    frame.to_parquet(path, index=False)
    return len(frame)


def _sft_question(item: Item) -> bool:
    """With ``sft_questions: disjoint``: half of the training questions, by a stable hash,
    are SFT questions and the other half preference questions."""
    digest = hashlib.sha1(f"capo-sft:{item.task}:{item.key}".encode()).hexdigest()
    return int(digest[:8], 16) % 2 == 0


def split_of(item: Item, params: BenchmarkParams) -> str:
    """train, validation or test, by a stable hash of the item's task and key."""
    digest = hashlib.sha1(f"{item.task}:{item.key}".encode()).hexdigest()
    u = int(digest[:8], 16) / 2**32
    if u < params.test_share:
        return "test"
    return "validation" if u < params.test_share + params.validation_share else "train"


def _items(params: BenchmarkParams) -> list[Item]:
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
    return build_items(tuple(tasks), params.languages, params.max_number)


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
        "translation_confidence": None,
        "label_flipped": False,
        "noise_kind": None,
        "gold": gold,
        "task": item.task,
        "rejected_kind": kind,
    }


def _add_noise(
    rows: list[dict[str, Any]], rate: float, corrupt_share: float, rng: random.Random, index: dict
) -> None:
    """Corrupt round(rate * eligible) same-language pairs: flips and corrupted chosen answers.

    The order of candidates, each one's kind and its own random stream are drawn before the
    rate is applied, so a higher rate corrupts a superset of the pairs a lower one does.
    """
    eligible = [i for i, row in enumerate(rows) if row["rejected_kind"] != "wrong_language"]
    rng.shuffle(eligible)
    plan = [(i, rng.random() < corrupt_share, rng.random()) for i in eligible]
    by_gold = {(it.task, lang, g): it for it in index.values() for lang, g in it.golds.items()}
    for i, corrupt, stream in plan[: round(rate * len(eligible))]:
        row = rows[i]
        item = by_gold[(row["task"], row["language"], row["gold"])]
        bad = _corruption(row, item, random.Random(stream), index) if corrupt else None
        if bad is None:
            row["chosen"], row["rejected"] = row["rejected"], row["chosen"]
        else:
            row["chosen"] = bad
        row["label_flipped"], row["noise_kind"] = True, "flip" if bad is None else NOISE_KINDS[1]
        row["id"] = pair_id(row["language"], row["prompt"], row["chosen"], row["rejected"])


def _corruption(row: dict[str, Any], item: Item, rng: random.Random, index: dict) -> str | None:
    """A near miss of the gold answer (a mistranslation) unlike the rejected one, or None."""
    for _ in range(4):
        bad = _negative("near_miss", item, row["language"], rng, (), index)
        if bad is not None and bad not in (row["gold"], row["rejected"]):
            return bad
    return None
