"""Real short answers and French dialog lines for measuring language identification.

Gold answers (what a benchmark's gold looks like, whatever its exact tasks): number words
0..999 (num2words: en de es fr ru ar ja), Chinese numerals 0..999 (zh), Devanagari digits
0..999 (hi), and Babel CLDR weekday, month, country and language names in all nine languages.
"""

from __future__ import annotations

from babel import Locale
from num2words import num2words

LANGUAGES = ("en", "de", "es", "fr", "ru", "hi", "ar", "zh", "ja")
NUM2WORDS_LANGUAGES = ("en", "de", "es", "fr", "ru", "ar", "ja")
LATIN = ("en", "de", "es", "fr")
_HAN_DIGITS = "零一二三四五六七八九"


def chinese_numeral(n: int) -> str:
    """0 <= n <= 999 in Chinese numerals: 四十七, 一百零五, 一百一十, 九百九十九."""
    if n < 10:
        return _HAN_DIGITS[n]
    hundreds, tens, units = n // 100, n // 10 % 10, n % 10
    text = f"{_HAN_DIGITS[hundreds]}百" if hundreds else ""
    if tens:
        text += ("" if tens == 1 and not hundreds else _HAN_DIGITS[tens]) + "十"
    elif hundreds and units:
        text += "零"
    return text + (_HAN_DIGITS[units] if units else "")


def devanagari_digits(n: int) -> str:
    """n in Devanagari digits: 47 -> ४७."""
    return "".join(chr(0x966 + int(d)) for d in str(n))


def number_answers() -> list[tuple[str, str, str]]:
    """(language, kind, text) for 0..999 in every language."""
    rows = [
        (lang, "number", num2words(n, lang=lang))
        for lang in NUM2WORDS_LANGUAGES
        for n in range(1000)
    ]
    rows += [("zh", "number", chinese_numeral(n)) for n in range(1000)]
    return rows + [("hi", "number", devanagari_digits(n)) for n in range(1000)]


def cldr_answers() -> list[tuple[str, str, str]]:
    """(language, kind, text): weekday/month (kind "calendar"), country and language names."""
    rows = []
    for lang in LANGUAGES:
        locale = Locale.parse(lang)
        calendar = {
            name
            for context in ("format", "stand-alone")
            for names in (locale.days[context]["wide"], locale.months[context]["wide"])
            for name in names.values()
        }
        countries = {name for code, name in locale.territories.items() if code.isalpha()}
        rows += [(lang, "calendar", name) for name in sorted(calendar)]
        rows += [(lang, "country", name) for name in sorted(countries)]
        rows += [(lang, "language", name) for name in sorted(set(locale.languages.values()))]
    return rows


def gold_answers() -> list[tuple[str, str, str]]:
    """Every gold answer above: about 17,000 (language, kind, text) rows."""
    return number_answers() + cldr_answers()


# Real-looking French dialog turns (prompt, answer): names, short answers, no accents.
FRENCH_DIALOG = [
    ("Qui etait president des Etats-Unis en 1972 ?", "Richard Nixon"),
    ("Qui a decouvert que l'univers est en expansion ?", "Edwin Hubble"),
    ("Tu as fait quoi ce week-end ?", "Rien de special."),
    ("Ca va ?", "Oui, ca va, merci."),
    ("Tu viens avec nous au cinema ce soir ?", "Non merci, je suis creve."),
    ("Qui a ecrit Les Miserables ?", "Victor Hugo"),
    ("Tu connais la premiere femme prix Nobel ?", "Marie Curie"),
    ("On se retrouve ou demain matin ?", "Devant la gare, a neuf heures."),
    ("T'as vu mes cles quelque part ?", "Sur la table de la cuisine."),
    ("Il fait quel temps a Paris aujourd'hui ?", "Il pleut depuis ce matin."),
    ("Tu veux un cafe ?", "Volontiers."),
    ("C'est qui, le gars avec la veste rouge ?", "Thomas, le frere de Julie."),
    ("Tu as lu le dernier livre de Houellebecq ?", "Pas encore."),
    ("Pourquoi tu ne m'as pas appele hier soir ?", "Desole, j'avais plus de batterie."),
    ("Qui a peint la Joconde ?", "Leonard de Vinci"),
    ("Tu pars en vacances quand ?", "En aout, comme d'habitude."),
    ("Quel est ton film prefere ?", "Le Fabuleux Destin d'Amelie Poulain"),
    ("Tu peux m'aider a demenager samedi ?", "Bien sur, a quelle heure ?"),
    ("Qui a marche sur la Lune en premier ?", "Neil Armstrong"),
    ("Tu as deja mange ?", "Oui, j'ai mange un sandwich vers midi."),
    ("Comment s'appelle ton chien ?", "Max."),
    ("Qu'est-ce que tu en penses ?", "Honnetement, je ne sais pas."),
    ("Tu es d'accord avec moi ?", "Pas du tout."),
    ("Qui chante La Vie en rose ?", "Edith Piaf"),
    ("On commande une pizza ?", "Bonne idee, j'ai faim."),
    ("Tu travailles ou maintenant ?", "Chez Renault, a Boulogne."),
    ("Elle arrive a quelle heure, ta soeur ?", "Vers dix-huit heures trente."),
    ("Tu as regarde le match hier ?", "Oui, quel but de Mbappe !"),
    ("Qui est le fondateur de Microsoft ?", "Bill Gates"),
    ("Tu me preferes en bleu ou en vert ?", "En bleu, sans hesiter."),
    ("Tu as encore besoin de la voiture ?", "Non, c'est bon."),
    ("Je peux t'emprunter ton stylo ?", "Tiens."),
]

# Dialog turns in another language, as a French corpus might contain them by mistake.
FOREIGN_DIALOG = [
    ("en", "Where did you put the keys to the car yesterday evening?", "On the kitchen table."),
    ("en", "Do you want to come to the cinema with us tonight?", "No thanks, I am exhausted."),
    ("en", "What did you do over the weekend?", "Nothing special, I stayed at home."),
    ("de", "Hast du gestern Abend das Spiel gesehen?", "Ja, was für ein schönes Tor!"),
    ("de", "Wann fährst du dieses Jahr in den Urlaub?", "Im August, wie jedes Jahr."),
    ("de", "Kannst du mir am Samstag beim Umzug helfen?", "Natürlich, um wie viel Uhr?"),
    ("es", "¿Dónde nos vemos mañana por la mañana?", "Delante de la estación, a las nueve."),
    ("es", "¿Qué tiempo hace hoy en Madrid?", "Está lloviendo desde esta mañana."),
    ("es", "¿Quieres que pidamos una pizza esta noche?", "Buena idea, tengo mucha hambre."),
    ("ru", "Ты уже поел сегодня?", "Да, я съел бутерброд около полудня."),
]
