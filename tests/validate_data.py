"""Hand-made multilingual preference pairs for the validate-stage tests (real sentences)."""

from __future__ import annotations

import hashlib

import numpy as np
import pandas as pd

# language -> (prompt, chosen, rejected) pairs: real sentences in nine languages, five scripts.
SENTENCES: dict[str, list[tuple[str, str, str]]] = {
    "en": [
        ("What is the capital of France?", "The capital of France is Paris.", "It is London."),
        ("How many legs does a spider have?", "A spider has eight legs.", "Spiders have six."),
        ("Name a primary colour.", "Red is a primary colour.", "Green, I believe."),
    ],
    "de": [
        ("Was ist die Hauptstadt von Frankreich?", "Die Hauptstadt ist Paris.", "Es ist London."),
        ("Wie viele Beine hat eine Spinne?", "Eine Spinne hat acht Beine.", "Sie hat sechs."),
        ("Welcher Monat folgt auf den März?", "Auf den März folgt der April.", "Der Mai."),
    ],
    "es": [
        ("¿Cuál es la capital de Francia?", "La capital de Francia es París.", "Es Londres."),
        ("¿Cuántas patas tiene una araña?", "Una araña tiene ocho patas.", "Tiene seis."),
        ("¿Qué mes sigue a marzo?", "Después de marzo viene abril.", "Viene mayo."),
    ],
    "fr": [
        (
            "Quelle est la capitale de la France ?",
            "La capitale de la France est Paris.",
            "Londres.",
        ),
        ("Combien de pattes a une araignée ?", "Une araignée a huit pattes.", "Elle en a six."),
        ("Quel mois vient après mars ?", "Le mois qui suit mars est avril.", "C'est mai."),
    ],
    "ru": [
        ("Какая столица Франции?", "Столица Франции — Париж.", "Это Лондон."),
        ("Сколько ног у паука?", "У паука восемь ног.", "У него шесть ног."),
        ("Какой месяц идёт после марта?", "После марта идёт апрель.", "Май."),
    ],
    "hi": [
        ("फ़्रांस की राजधानी क्या है?", "फ़्रांस की राजधानी पेरिस है।", "लंदन है।"),
        ("मकड़ी के कितने पैर होते हैं?", "मकड़ी के आठ पैर होते हैं।", "छह पैर।"),
        ("मार्च के बाद कौन सा महीना आता है?", "मार्च के बाद अप्रैल आता है।", "मई।"),
    ],
    "ar": [
        ("ما هي عاصمة فرنسا؟", "عاصمة فرنسا هي باريس.", "إنها لندن."),
        ("كم عدد أرجل العنكبوت؟", "للعنكبوت ثمانية أرجل.", "ستة أرجل."),
        ("ما الشهر الذي يأتي بعد مارس؟", "يأتي أبريل بعد مارس.", "مايو."),
    ],
    "zh": [
        ("法国的首都是哪里？", "法国的首都是巴黎。", "是伦敦。"),
        ("蜘蛛有几条腿？", "蜘蛛有八条腿。", "六条。"),
        ("三月之后是哪个月？", "三月之后是四月。", "五月。"),
    ],
    "ja": [
        ("フランスの首都はどこですか？", "フランスの首都はパリです。", "ロンドンです。"),
        ("クモの足は何本ありますか？", "クモの足は八本あります。", "六本です。"),
        ("三月の次は何月ですか？", "三月の次は四月です。", "五月です。"),
    ],
}
LANGUAGES = tuple(SENTENCES)


def pair_id(language: str, prompt: str, chosen: str, rejected: str) -> str:
    """Stable content hash, as the data contract defines ids."""
    return hashlib.sha1("\x1f".join((language, prompt, chosen, rejected)).encode()).hexdigest()


def clean_pairs() -> pd.DataFrame:
    """Two train pairs and one test pair per language; prompts never cross splits."""
    rows = []
    for language, triples in SENTENCES.items():
        for k, (prompt, chosen, rejected) in enumerate(triples):
            rows.append(
                {
                    "id": pair_id(language, prompt, chosen, rejected),
                    "language": language,
                    "prompt": prompt,
                    "chosen": chosen,
                    "rejected": rejected,
                    "score_chosen": 8.0 if k == 0 else np.nan,
                    "score_rejected": 3.5 if k == 0 else np.nan,
                    "source": "hand",
                    "split": "test" if k == 2 else "train",
                    "translated_from": None if language == "en" else "en",
                    "label_flipped": False,
                    "gold": None,
                    "task": "qa",
                }
            )
    return pd.DataFrame(rows)
