"""validate stage at scale: 200k synthetic multilingual pairs through the real GX suite.

Measures the wall time of ``validate_pairs`` (GX checkpoint with every expectation,
language identification of prompt and chosen, quarantine, gate, Data Docs) and of
writing the outputs, plus the process's peak RSS. Pairs are unique sentence mixes in
nine languages and five scripts; 30% of answers are one-to-three words (the short-answer
path); about 1% of rows are broken (wrong-language answer, chosen == rejected).

    python benchmarks/bench_validate.py [--rows 200000] [--json PATH]
"""

from __future__ import annotations

import argparse
import json
import logging
import resource
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

from capo_pipelines.data.langid import language_mismatch
from capo_pipelines.params import ValidateParams
from capo_pipelines.validation import validate_pairs, write_outputs

SENTENCES = {
    "en": [
        "The weather is nice today.",
        "I would like a cup of tea.",
        "Where is the station?",
        "The museum opens at nine.",
        "Please read the next chapter.",
        "We met by the river.",
    ],
    "de": [
        "Das Wetter ist heute schön.",
        "Ich hätte gern eine Tasse Tee.",
        "Wo ist der Bahnhof?",
        "Das Museum öffnet um neun.",
        "Bitte lies das nächste Kapitel.",
        "Wir trafen uns am Fluss.",
    ],
    "es": [
        "Hoy hace buen tiempo.",
        "Quisiera una taza de té.",
        "¿Dónde está la estación?",
        "El museo abre a las nueve.",
        "Por favor, lee el siguiente capítulo.",
        "Nos vimos junto al río.",
    ],
    "fr": [
        "Il fait beau aujourd'hui.",
        "Je voudrais une tasse de thé.",
        "Où est la gare ?",
        "Le musée ouvre à neuf heures.",
        "Lis le chapitre suivant, s'il te plaît.",
        "Nous nous sommes vus près de la rivière.",
    ],
    "ru": [
        "Сегодня хорошая погода.",
        "Я хотел бы чашку чая.",
        "Где находится вокзал?",
        "Музей открывается в девять.",
        "Пожалуйста, прочитай следующую главу.",
        "Мы встретились у реки.",
    ],
    "hi": [
        "आज मौसम अच्छा है।",
        "मुझे एक कप चाय चाहिए।",
        "स्टेशन कहाँ है?",
        "संग्रहालय नौ बजे खुलता है।",
        "कृपया अगला अध्याय पढ़ें।",
        "हम नदी के किनारे मिले।",
    ],
    "ar": [
        "الطقس جميل اليوم.",
        "أريد كوبا من الشاي.",
        "أين المحطة؟",
        "يفتح المتحف في التاسعة.",
        "من فضلك اقرأ الفصل التالي.",
        "التقينا عند النهر.",
    ],
    "zh": [
        "今天天气很好。",
        "我想要一杯茶。",
        "火车站在哪里？",
        "博物馆九点开门。",
        "请读下一章。",
        "我们在河边见面。",
    ],
    "ja": [
        "今日はいい天気です。",
        "お茶を一杯ください。",
        "駅はどこですか？",
        "博物館は九時に開きます。",
        "次の章を読んでください。",
        "私たちは川のそばで会いました。",
    ],
}
SHORT = {
    "en": ["five", "March", "Monday", "twenty one"],
    "de": ["fünf", "März", "Montag", "einundzwanzig"],
    "es": ["cinco", "marzo", "lunes", "veintiuno"],
    "fr": ["cinq", "mars", "lundi", "vingt et un"],
    "ru": ["пять", "март", "понедельник", "двадцать один"],
    "hi": ["पाँच", "मार्च", "सोमवार", "इक्कीस"],
    "ar": ["خمسة", "مارس", "الاثنين", "واحد وعشرون"],
    "zh": ["五", "三月", "星期一", "二十一"],
    "ja": ["五", "三月", "月曜日", "二十一"],
}  # one-to-three-word answers


def _texts(rng: np.random.Generator, pool: list[str], n: int, k: int) -> list[str]:
    picks = rng.integers(0, len(pool), size=(n, k))
    tags = rng.integers(0, 10**6, size=n)
    return [" ".join(pool[j] for j in row) + f" {t}" for row, t in zip(picks, tags, strict=True)]


def synthetic_pairs(rows: int, seed: int = 0) -> pd.DataFrame:
    """``rows`` unique pairs spread evenly over the nine languages, ~1% of them broken."""
    rng = np.random.default_rng(seed)
    frames = []
    for lang, n in zip(SENTENCES, np.array_split(np.arange(rows), len(SENTENCES)), strict=True):
        n = len(n)
        short = rng.random(n) < 0.3
        chosen = np.where(short, rng.choice(SHORT[lang], n), _texts(rng, SENTENCES[lang], n, 2))
        frames.append(pd.DataFrame({
            "language": lang, "prompt": _texts(rng, SENTENCES[lang], n, 3), "chosen": chosen,
            "rejected": _texts(rng, SENTENCES[lang], n, 1), "source": "bench",
            "score_chosen": rng.normal(7, 1, n), "score_rejected": rng.normal(5, 1, n),
        }))  # fmt: skip
    df = pd.concat(frames, ignore_index=True)
    df["id"] = [f"p{i:07d}" for i in range(len(df))]
    df["split"] = np.where(rng.random(len(df)) < 0.1, "test", "train")
    broken = rng.choice(len(df), size=len(df) // 100, replace=False)
    half = len(broken) // 2
    df.loc[broken[:half], "chosen"] = (
        "This answer is written in plain English, not the row's language."
    )
    df.loc[broken[half:], "rejected"] = df.loc[broken[half:], "chosen"]
    return df


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=200_000)
    parser.add_argument("--json", type=Path, help="also write the numbers here")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    df = synthetic_pairs(args.rows)
    params = ValidateParams(max_failing_fraction=0.05)
    with tempfile.TemporaryDirectory() as tmp:
        start = time.perf_counter()
        run = validate_pairs(df, params, Path(tmp) / "data_docs")
        validate_s = time.perf_counter() - start
        pages = list((Path(tmp) / "data_docs").rglob("*.html"))
        docs_kib = sum(page.stat().st_size for page in pages) // 1024
        start = time.perf_counter()
        write_outputs(run, Path(tmp) / "validated", Path(tmp))
        write_s = time.perf_counter() - start
    start = time.perf_counter()  # breakdown: language ID alone (detector already loaded)
    language_mismatch(
        df["prompt"], df["language"], params.languages, min_chars=params.langid_min_chars
    )
    language_mismatch(
        df["chosen"], df["language"], params.languages, min_chars=params.langid_min_chars
    )
    langid_s = time.perf_counter() - start
    result = {
        "rows": len(df),
        "validate_s": round(validate_s, 2),
        "write_outputs_s": round(write_s, 2),
        "langid_only_s": round(langid_s, 2),
        "data_docs_html_kib": docs_kib,
        "peak_rss_mib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
        "accepted": run.gate.counts["accepted"],
        "quarantined": run.gate.counts["quarantined"],
        "gate_passed": run.gate.passed,
    }
    json.dump(result, sys.stdout, indent=2)
    sys.stdout.write("\n")
    if args.json:
        args.json.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
