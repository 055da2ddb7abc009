"""Native prompt templates of the built-in benchmark: PROMPTS[task][language], `{x}` = the query."""

from __future__ import annotations

__all__ = ["COUNTRY_CODES", "LANGUAGE_CODES", "PROMPTS"]

# ISO 3166 codes whose CLDR names are short in every benchmark language.
# fmt: off
COUNTRY_CODES = (
    "AR", "AT", "AU", "BE", "BR", "CA", "CH", "CL", "CN", "CO", "CU", "DE", "DK", "EG", "ES",
    "FI", "FR", "GR", "ID", "IE", "IL", "IN", "IQ", "IR", "IT", "JP", "KE", "KR", "MA", "MX",
    "NG", "NO", "NP", "NL", "PE", "PK", "PL", "PT", "RU", "SA", "SE", "TH", "TR", "UA", "VN",
)
# ISO 639-1 codes of widely known languages (CLDR language names).
LANGUAGE_CODES = (
    "ar", "cs", "de", "el", "en", "es", "fa", "fi", "fr", "he", "hi", "hu", "id", "it", "ja",
    "ko", "nl", "pl", "pt", "ru", "sv", "th", "tr", "uk", "vi", "zh",
)
# fmt: on

PROMPTS: dict[str, dict[str, str]] = {
    "number_words": {
        "en": "Write {x} in words.",
        "de": "Schreibe {x} in Worten.",
        "es": "Escribe {x} con letras.",
        "fr": "Écris {x} en lettres.",
        "ru": "Напиши число {x} словами.",
        "ar": "اكتب العدد {x} بالحروف.",
        "ja": "{x}を漢数字で書いてください。",
        "zh": "用汉字写出数字{x}。",
        "hi": "संख्या {x} को देवनागरी अंकों में लिखिए।",
    },
    "weekday_next": {
        "en": "Which day comes after {x}?",
        "de": "Welcher Tag kommt nach {x}?",
        "es": "¿Qué día va después del {x}?",
        "fr": "Quel jour vient après {x} ?",
        "ru": "Какой день недели идёт после дня «{x}»?",
        "hi": "{x} के बाद कौन सा दिन आता है?",
        "ar": "ما اليوم الذي يأتي بعد {x}؟",
        "zh": "{x}的后一天是星期几？",
        "ja": "{x}の次は何曜日ですか？",
    },
    "weekday_prev": {
        "en": "Which day comes before {x}?",
        "de": "Welcher Tag kommt vor {x}?",
        "es": "¿Qué día va antes del {x}?",
        "fr": "Quel jour vient avant {x} ?",
        "ru": "Какой день недели идёт перед днём «{x}»?",
        "hi": "{x} से पहले कौन सा दिन आता है?",
        "ar": "ما اليوم الذي يأتي قبل {x}؟",
        "zh": "{x}的前一天是星期几？",
        "ja": "{x}の前は何曜日ですか？",
    },
    "month_next": {
        "en": "Which month comes after {x}?",
        "de": "Welcher Monat kommt nach {x}?",
        "es": "¿Qué mes va después de {x}?",
        "fr": "Quel mois vient après {x} ?",
        "ru": "Какой месяц идёт после месяца «{x}»?",
        "hi": "{x} के बाद कौन सा महीना आता है?",
        "ar": "ما الشهر الذي يأتي بعد {x}؟",
        "zh": "{x}的下一个月是几月？",
        "ja": "{x}の次は何月ですか？",
    },
    "month_prev": {
        "en": "Which month comes before {x}?",
        "de": "Welcher Monat kommt vor {x}?",
        "es": "¿Qué mes va antes de {x}?",
        "fr": "Quel mois vient avant {x} ?",
        "ru": "Какой месяц идёт перед месяцем «{x}»?",
        "hi": "{x} से पहले कौन सा महीना आता है?",
        "ar": "ما الشهر الذي يأتي قبل {x}؟",
        "zh": "{x}的上一个月是几月？",
        "ja": "{x}の前は何月ですか？",
    },
    "country_name": {
        "en": "Which country has the code {x}?",
        "de": "Welches Land hat den Code {x}?",
        "es": "¿Qué país tiene el código {x}?",
        "fr": "Quel pays a le code {x} ?",
        "ru": "Какая страна имеет код {x}?",
        "hi": "किस देश का कोड {x} है?",
        "ar": "ما البلد الذي رمزه {x}؟",
        "zh": "代码为{x}的国家是哪个？",
        "ja": "コード{x}の国はどこですか？",
    },
    "language_name": {
        "en": "Which language has the code {x}?",
        "de": "Welche Sprache hat den Code {x}?",
        "es": "¿Qué idioma tiene el código {x}?",
        "fr": "Quelle langue a le code {x} ?",
        "ru": "Какой язык имеет код {x}?",
        "hi": "किस भाषा का कोड {x} है?",
        "ar": "ما اللغة التي رمزها {x}؟",
        "zh": "代码为{x}的语言是哪种？",
        "ja": "コード{x}の言語は何ですか？",
    },
}
