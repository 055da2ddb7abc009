"""The dataset card (README.md) of an exported benchmark, in the Hugging Face card format.

    card = dataset_card(summary, study)   # summary: benchmark_export.export_benchmark's
    license_document(summary)             # LICENSE.md, which the card's license_link names
    reference_rows(study)                 # the reference-score table's cells, from the study

The card is huggingface_hub's DatasetCard: metadata (DatasetCardData: languages, license with
license_name and license_link, configs with their data files, task categories, size category,
creators; values from the Hub's documented lists, checked by tests/test_hub_cards.py) followed
by Markdown. Every number in it comes from ``summary`` (the export itself) or ``study`` (the
committed noise study JSON); nothing is typed in here.
"""

from __future__ import annotations

from typing import Any

import yaml

__all__ = [
    "GROUND_TRUTH",
    "LANGUAGE_NAMES",
    "LICENSE_FILE",
    "LICENSE_NAME",
    "SIZE_CATEGORIES",
    "card_data",
    "dataset_card",
    "license_document",
    "reference_rows",
    "size_category",
]

LANGUAGE_NAMES = {  # language: (English name, script)
    "en": ("English", "Latin"),
    "de": ("German", "Latin"),
    "es": ("Spanish", "Latin"),
    "fr": ("French", "Latin"),
    "ru": ("Russian", "Cyrillic"),
    "hi": ("Hindi", "Devanagari"),
    "ar": ("Arabic", "Arabic"),
    "zh": ("Chinese", "Han"),
    "ja": ("Japanese", "Han and kana"),
}
GROUND_TRUTH = ("label_flipped", "noise_kind", "gold", "rejected_kind", "task")
_COLUMNS = (  # column, meaning, read by training
    ("id", "stable pair id: sha1 over language, prompt, chosen, rejected (16 hex digits)", "-"),
    ("language", "language of the prompt and of the gold answer (ISO 639-1)", "no"),
    ("task", "task family, e.g. number_words", "no"),
    ("prompt", "the question, as text", "yes"),
    ("chosen", "the preferred answer (after label noise), as text", "yes"),
    ("rejected", "the dispreferred answer (after label noise), as text", "yes"),
    ("prompt_messages", "the prompt as one user turn (TRL's conversational format)", "yes"),
    ("chosen_messages", "the chosen answer as one assistant turn", "yes"),
    ("rejected_messages", "the rejected answer as one assistant turn", "yes"),
    ("score_chosen", "annotation score of `chosen`, 1-10 scale; null when unscored", "yes"),
    ("score_rejected", "annotation score of `rejected`; null when unscored", "yes"),
    (
        "translation_confidence",
        "confidence in [0, 1] that a simulated translation kept its meaning; "
        "null unless the noise model is `translation`",
        "yes",
    ),
    ("rejected_kind", "`wrong`, `wrong_language` or `near_miss`: how the rejection was made", "no"),
    ("label_flipped", "ground truth: the pair's label was corrupted by the noise model", "no"),
    ("noise_kind", "ground truth: `flip` or `corrupted_chosen`; null for a clean pair", "no"),
    ("gold", "ground truth: the correct answer, for scoring generations", "no"),
)
_SOURCES = {  # task family: where its answers come from
    "number_words": "num2words (LGPL-2.1); Chinese numerals by capo's own rules; Hindi in "
    "Devanagari digits from the Unicode Character Database (Unicode License v3)",
}
_CLDR = "Unicode CLDR (Unicode License v3) via Babel (BSD-3-Clause)"


# The Hub's size_categories (huggingface_hub's DatasetCardData), by upper bound of the rows.
SIZE_CATEGORIES = (
    (10**3, "n<1K"),
    (10**4, "1K<n<10K"),
    (10**5, "10K<n<100K"),
    (10**6, "100K<n<1M"),
    (10**7, "1M<n<10M"),
    (10**8, "10M<n<100M"),
    (10**9, "100M<n<1B"),
    (10**10, "1B<n<10B"),
    (10**11, "10B<n<100B"),
    (10**12, "100B<n<1T"),
)
LICENSE_NAME = "capo-benchmark-sources"  # license: other, its id on the Hub
LICENSE_FILE = "LICENSE.md"  # the card's license_link: a file of the export


def size_category(n: int) -> str:
    """The Hugging Face ``size_categories`` value for ``n`` rows."""
    for limit, tag in SIZE_CATEGORIES:
        if n < limit:
            return tag
    return "n>1T"


def card_data(summary: dict[str, Any]) -> Any:
    """The card's metadata as huggingface_hub's DatasetCardData."""
    from huggingface_hub import DatasetCardData

    return DatasetCardData(
        pretty_name="capo multilingual preference benchmark",
        language=list(summary["languages"]),
        license="other",
        license_name=LICENSE_NAME,
        license_link=LICENSE_FILE,
        annotations_creators=["machine-generated"],  # labels and scores: capo's generator
        language_creators=["machine-generated"],
        multilinguality=["multilingual" if len(summary["languages"]) > 1 else "monolingual"],
        size_categories=[size_category(sum(summary["sizes"].values()))],
        source_datasets=["original"],
        task_categories=["text-generation"],
        tags=["preference", "dpo", "label-noise", "multilingual", "synthetic", "trl", "capo"],
        configs=[
            {
                "config_name": "pairs",
                "default": True,
                "data_files": [
                    {"split": split, "path": f"data/{split}-*.parquet"}
                    for split in summary["sizes"]
                ],
            },
            {
                "config_name": "sft",
                "data_files": [{"split": "train", "path": "sft/train-*.parquet"}],
            },
        ],
    )


def _licenses(settings: dict[str, Any]) -> str:
    """Where the questions and the answers come from, and their licenses (Markdown)."""
    sources = "\n".join(f"- `{t}`: {_SOURCES.get(t, _CLDR)}" for t in settings["tasks"] or [])
    if not settings["tasks"]:
        sources = f"- `number_words`: {_SOURCES['number_words']}\n- other task families: {_CLDR}"
    elif set(settings["tasks"]) <= set(_SOURCES):
        sources += f"\n- (the task families not in this export use {_CLDR})"
    return (
        "The questions, prompts and generator are capo's (Apache-2.0). "
        f"The answers come from:\n\n{sources}\n"
    )


def license_document(summary: dict[str, Any]) -> str:
    """LICENSE_FILE: the licenses the card's ``license: other`` stands for."""
    return (
        f"# License: {LICENSE_NAME}\n\n"
        "The capo multilingual preference benchmark has no single license: "
        f"{_licenses(summary['settings'])}"
    )


def _f(x: float | None) -> str:
    return "-" if x is None else f"{x:.3f}"


def _estimate(e: dict[str, Any] | None, signed: bool = False) -> str:
    if not e:
        return "-"
    fmt = "{:+.3f}" if signed else "{:.3f}"
    return f"{fmt.format(e['mean'])} [{fmt.format(e['low'])}, {fmt.format(e['high'])}]"


def reference_rows(study: dict[str, Any]) -> list[dict[str, str]]:
    """Per study regime: the baseline's (DPO) and the candidate's (capo) test reward and
    generation accuracy, mean over seeds [95% interval], and capo - DPO paired by seed."""
    s = study["summary"]
    base, cand = s["baseline"], s["candidate"]
    settings = {r["name"]: r for r in study["regimes"]}
    rows = []
    for name in s["regimes"]:
        means, paired = s["means"][name], s["paired"][name][cand]
        rows.append(
            {
                "regime": name,
                "noise_model": settings[name]["noise_model"],
                f"{base} reward_accuracy": _estimate(means[base]["reward_accuracy"]),
                f"{cand} reward_accuracy": _estimate(means[cand]["reward_accuracy"]),
                "difference": _estimate(paired["reward_accuracy"], signed=True),
                f"{base} generation_accuracy": _estimate(means[base]["generation_accuracy"]),
                f"{cand} generation_accuracy": _estimate(means[cand]["generation_accuracy"]),
            }
        )
    return rows


def _table(header: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def _reference_section(summary: dict[str, Any], study: dict[str, Any] | None) -> str:
    if not study:
        return "## Reference scores\n\nNo study results were given to the export.\n"
    s = study["summary"]
    base, cand = s["baseline"], s["candidate"]
    seeds = sorted({r["seed"] for r in study.get("runs", [])})
    rows = reference_rows(study)
    keys = list(rows[0]) if rows else []
    header = [
        "regime",
        "noise model",
        f"{base} (DPO) reward acc.",
        f"{cand} reward acc.",
        f"{cand} - {base} (paired)",
        f"{base} generation acc.",
        f"{cand} generation acc.",
    ]
    table = _table(header, [[row[k] for k in keys] for row in rows])
    if summary["regime"]:
        match = f"This export has the settings of the regime `{summary['regime']}`."
    else:
        match = (
            "This export has `ingest.benchmark`'s settings, which need not be one of the "
            "study's regimes (the study's regimes set one noise rate in every language and "
            "`sft_questions: disjoint`); export with `--regime NAME` for a regime's data."
        )
    return f"""## Reference scores

From capo's noise study (`reports/noise_study.json`): a tiny Llama SFT'd on the
demonstrations, then trained with DPO (`{base}`, TRL's sigmoid loss) or with CAPO (`{cand}`,
its settings chosen per regime on the validation split) on the training pairs, and scored on
the clean test split. Seeds {seeds}: each its own data sample, SFT policy and training order.
Cells: mean over seeds [95% Student-t interval]; the difference is paired by seed. Reward
accuracy is the share of test pairs with r(chosen) > r(rejected), r = beta log(pi / pi_ref);
generation accuracy is the share of test questions whose greedy answer matches the gold one.
{match}

{table}
"""


def dataset_card(summary: dict[str, Any], study: dict[str, Any] | None = None) -> str:
    """The README.md of an export: huggingface_hub's DatasetCard with card_data's metadata,
    then the card's sections."""
    settings = summary["settings"]
    sizes, per_lang = summary["sizes"], summary["per_language"]
    splits = list(sizes)
    lang_rows = [
        [
            lang,
            *LANGUAGE_NAMES.get(lang, (lang, "?")),
            *(per_lang[lang][s] for s in splits),
            summary["sft_per_language"].get(lang, 0),
        ]
        for lang in summary["languages"]
    ]
    languages = _table(
        ["code", "language", "script", *splits, "sft"],
        [*lang_rows, ["all", "", "", *(sizes[s] for s in splits), summary["sft_size"]]],
    )
    columns = _table(["column", "meaning", "training may read it"], [list(c) for c in _COLUMNS])
    tasks = settings["tasks"] or sorted(set(_SOURCES) | {"(all task families)"})
    noise_by_language = ", ".join(
        f"{lang} {rate}" for lang, rate in sorted((settings["noise_by_language"] or {}).items())
    )
    exported = yaml.safe_dump(
        {"seed": summary["seed"], "validation_pairs": summary["validation_pairs"], **settings},
        sort_keys=True,
        allow_unicode=True,
    )
    regime = f" --regime {summary['regime']}" if summary["regime"] else ""
    body = f"""# capo multilingual preference benchmark

A learnable multilingual preference task with graded rejections, annotation scores and
controlled label noise whose truth is recorded. Every pair asks a short question with one
verifiable answer ("Write 417 in words.") in the prompt's own language; the test and
validation questions are never asked in training, in any language, but their answers are
derivable from the trained ones (number words are compositional). Generated offline and
seeded by capo (`pipelines/data/benchmark.py`).

## Configs, splits and sizes

- `pairs` (the default): preference pairs in TRL's format, splits {", ".join(splits)}
  ({", ".join(f"{sizes[s]} {s}" for s in splits)} pairs). Only `train` is noisy; `validation`
  and `test` are clean and ask held-out questions.
- `sft`: {summary["sft_size"]} clean demonstrations (the gold answer of training questions),
  `train` only, in TRL's prompt-completion format (`prompt`/`completion` as text,
  `prompt_messages`/`completion_messages` as conversations).

{languages}

## How the pairs are made

Tasks: {", ".join(f"`{t}`" for t in tasks)}. A question (task and key, e.g. the number 417)
is put in every language; questions are split by a hash of task and key into train
(the rest), validation and test (shares {settings["validation_share"]} and
{settings["test_share"]}), the same in every language. The chosen answer is the gold answer;
the rejected one is, at random, `wrong` (another answer of the same task), `wrong_language`
(the gold answer in another language) or `near_miss` (a neighbouring number, or the gold
answer misspelt). Annotation scores on a 1-10 scale follow that grading, so near misses make
low-margin pairs; a share {settings["unscored_rate"]} of the pairs has no scores.

## Label noise

Noise model `{settings["noise_model"]}`, rate {settings["noise"]} of the same-language
training pairs (per-language rates: {noise_by_language or "none"}); corrupted share of the
same-language training pairs as generated: {summary["realized_noise"]:.4f}
({summary["flipped"]} training pairs). Only same-language pairs (`wrong`, `near_miss`) are
corrupted: an annotator does not prefer an answer in another language. The models:

- `uniform`: a random share is corrupted, most by swapping chosen and rejected, a share
  `corrupt_share` ({settings["corrupt_share"]}) by a near-miss chosen answer; scores keep
  their positions, so no annotation signal can find the noise.
- `margin`: answers have a latent quality; pairs are flipped with weight
  1 / (1 + exp(quality gap)), so close pairs flip far more often; scores stay with their answers.
- `derived`: one noisy annotator (score sd `score_noise`, here {settings["score_noise"]})
  scores both answers and the label is the higher score, as UltraFeedback is binarized.
- `translation`: non-English pairs are simulated translations of English ones; a share is
  corrupted as under `uniform`, and each non-English training pair has a
  `translation_confidence` that separates intact from broken translations
  (d' = {settings["translation_separation"]}).

`label_flipped` and `noise_kind` record which pairs were corrupted and how.

## Columns (config `pairs`)

{columns}

**Ground truth that no training may read**: {", ".join(f"`{c}`" for c in GROUND_TRUTH)}.
They exist to measure a method (which pairs were noisy, how a rejection was made, what the
right answer is), never as training input. A method that reads them, including `gold` for
SFT on the preference questions, measures nothing. `language` is metadata for per-language
scores; capo's losses do not read it either. A training method may read the texts (or the
messages), `score_chosen`/`score_rejected` and `translation_confidence`.

## Intended use

- Train preference-optimisation methods on `train` (with `sft` as the starting SFT data) and
  compare them on `test`: reward accuracy of the implicit reward, and generation accuracy
  (greedy answer against `gold`, with capo's normalisation: first non-empty line, Unicode
  NFKC, casefold, no punctuation or whitespace).
- Study robustness to label noise: the noise is controlled and its truth is recorded.
- Tune on `validation` only; never choose anything on `test`.

It is a synthetic, closed-form task: good for comparing methods under controlled noise, not
a measure of general multilingual ability.

{_reference_section(summary, study)}
## Evaluate a model with lm-evaluation-harness

capo ships a task (`pipelines/lm_eval_tasks`): greedy generation on the `test` questions, scored
with capo's answer matching, one score per language:

```
pip install -e . -e "./pipelines[lm-eval]"   # in a checkout of capo's repository
lm_eval --include_path $(python -c "import capo_pipelines.lm_eval_tasks as t; print(t.TASK_DIR)") \\
    --tasks capo_benchmark --model hf --model_args pretrained=MODEL \\
    --metadata '{{"data_dir": "PATH/TO/THIS/DATASET"}}'
```

## Licenses

`license: other`, named `{LICENSE_NAME}` ([{LICENSE_FILE}]({LICENSE_FILE})): {_licenses(settings)}
## Reproduce

```
capo benchmark export DIR --params params.yaml{regime}
```

with these settings (`ingest.benchmark` of params.yaml, the seed and the validation size):

```yaml
{exported}```
"""
    from huggingface_hub import DatasetCard

    return str(DatasetCard(f"---\n{card_data(summary).to_yaml()}\n---\n\n{body}"))
