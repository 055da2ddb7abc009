"""Language identification restricted to configured languages (capo.data.langid)."""

from __future__ import annotations

import pytest

from capo.data.langid import (
    build_detector,
    detect_language,
    detect_languages,
    matches_language,
    normalize_language,
)

LANGS = ("en", "de", "ru", "hi", "ar", "zh", "ja")


@pytest.mark.parametrize(
    ("code", "expected"), [("en", "en"), ("en-US", "en"), ("zh_Hans", "zh"), ("DE", "de")]
)
def test_normalize_language(code, expected):
    assert normalize_language(code) == expected


@pytest.mark.parametrize("code", ["xx", "", "english", "e1", None, 12])
def test_normalize_rejects_unknown_codes(code):
    with pytest.raises(ValueError):
        normalize_language(code)


def test_detect_in_the_configured_set():
    texts = {
        "en": "Which day comes after Monday?",
        "de": "Welcher Tag kommt nach Montag?",
        "ru": "Какой день идёт после понедельника?",
        "hi": "सोमवार के बाद कौन सा दिन आता है?",
        "ar": "ما اليوم الذي يأتي بعد الاثنين؟",
        "ja": "月曜日の次は何曜日ですか？",
    }
    for lang, text in texts.items():
        assert detect_language(text, LANGS) == lang
    assert detect_languages(list(texts.values()), LANGS) == list(texts)
    assert detect_language("Which day comes after Monday?", ("de", "ru")) in ("de", None)


def test_detector_is_cached_per_language_set():
    assert build_detector(("de", "en")) is build_detector(("de", "en"))
    assert build_detector(("de", "en")) is not build_detector(("de", "ru"))


def test_han_only_text_matches_chinese_and_japanese():
    assert matches_language("火曜日", "ja", LANGS)
    assert matches_language("星期二", "zh", LANGS)
    assert not matches_language("火曜日", "en", LANGS)
    assert not matches_language("Dienstag ist ein schöner Tag", "ru", LANGS)
    assert matches_language("Dienstag ist ein schöner Tag", "de", LANGS)
