"""`ingest:` and `validate:` sections of params.yaml: data sources, benchmark, checks."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Annotated, Any

from capo_pipelines.params.parse import (
    FlipRate,
    Fraction,
    NonNegative,
    NonNegativeInt,
    PositiveInt,
    Range,
)

__all__ = [
    "NOISE_MODELS",
    "BenchmarkParams",
    "IngestParams",
    "SourceParams",
    "TranslationParams",
    "ValidateParams",
]


_BENCHMARK_LANGUAGES = ("en", "de", "es", "fr", "ru", "hi", "ar", "zh", "ja")


NOISE_MODELS = ("uniform", "margin", "derived", "translation")


@dataclass(frozen=True)
class BenchmarkParams:
    """`ingest.benchmark:` the built-in multilingual preference benchmark (data/benchmark.py)."""

    enabled: bool = True  # generate the benchmark as the source named "benchmark"
    languages: tuple[str, ...] = _BENCHMARK_LANGUAGES  # prompt languages (CLDR codes)
    tasks: tuple[str, ...] = ("number_words",)  # task families; empty = all of them
    train_pairs: NonNegativeInt = 1500  # training pairs in total, spread evenly over languages
    test_pairs: NonNegativeInt = 900  # clean test pairs in total
    max_number: PositiveInt = 999  # number_words asks for 0..max_number
    test_share: Fraction = 0.2  # share of questions (task, key) held out for the test split
    validation_share: Fraction = 0.1  # share held out for the validation split (noise study)
    noise: FlipRate = 0.2  # share of same-language training pairs with a corrupted label
    noise_by_language: dict[str, FlipRate] = field(default_factory=lambda: {"en": 0.0})
    corrupt_share: Fraction = 0.25  # share of noisy pairs with a mistranslated chosen
    unscored_rate: Fraction = 0.1  # share of pairs without annotation scores (CAPO q = 1)
    noise_model: str = "uniform"  # uniform | margin | derived | translation (data/benchmark.py)
    score_noise: NonNegative = 1.0  # sd of the annotator's score noise (margin, derived)
    translation_separation: NonNegative = (
        1.5  # translation: d' of the confidence, AUC = Phi(d'/sqrt 2)
    )
    sft_questions: str = (
        "all"  # SFT demonstrations: all training questions | disjoint from the pairs'
    )
    sft_share: Fraction = 1.0  # share of the SFT questions kept (seeded): a weaker reference

    def __post_init__(self) -> None:
        if not self.languages:
            raise ValueError("languages: must name at least one language")
        if self.noise_model not in NOISE_MODELS:
            raise ValueError(
                f"noise_model: expected one of {NOISE_MODELS}, got {self.noise_model!r}"
            )
        if self.sft_questions not in ("all", "disjoint"):
            raise ValueError(f"sft_questions: expected all or disjoint, got {self.sft_questions!r}")
        if self.test_share + self.validation_share >= 1:
            raise ValueError("test_share + validation_share: must be < 1")

    def noise_rate(self, language: str) -> float:
        """The label-noise share of ``language``'s same-language training pairs."""
        return self.noise_by_language.get(language, self.noise)


@dataclass(frozen=True)
class SourceParams:
    """One entry of `ingest.sources:` a file or a Hugging Face dataset (pipelines/data/sources)."""

    name: str  # source name, written to the `source` column and the report
    path: str  # file path, or Hugging Face dataset name / local dataset directory
    type: str = "file"  # file (jsonl/json/csv/parquet) | hf (datasets.load_dataset)
    format: str | None = None  # file format; default from the suffix
    split: str = "train"  # hf: split to load
    config: str | None = None  # hf: configuration name
    data_files: str | None = None  # hf: data_files for builders such as "json" or "csv"
    columns: dict[str, str] = field(default_factory=dict)  # capo column -> source column
    language: str | None = None  # fixed language; else the language column, else langid
    translate: bool = False  # translate this source's English rows (ingest.translation)
    options: dict[str, Any] = field(default_factory=dict)  # reader options, e.g. {delimiter: ";"}
    allow_empty: bool = False  # a source with no rows is an error unless this is true

    def __post_init__(self) -> None:
        if self.type not in ("file", "hf"):
            raise ValueError(f"sources.{self.name}.type: expected file or hf, got {self.type!r}")
        if self.format not in (None, "jsonl", "json", "csv", "parquet"):
            raise ValueError(f"sources.{self.name}.format: unknown format {self.format!r}")


@dataclass(frozen=True)
class TranslationParams:
    """`ingest.translation:` machine translation of English sources (pipelines/data/translate)."""

    # seq2seq HF id or path ("{tgt}" filled per language: MarianMT), or a causal instruct
    # model (HF id, folder or .gguf file) that translates through its chat template
    model: str | None = None
    targets: tuple[str, ...] = ()  # languages to translate into
    source_language: str = "en"  # rows in this language are translated
    batch_size: PositiveInt = 16  # texts per generate() call
    max_new_tokens: PositiveInt = 128  # generation limit per text
    num_beams: PositiveInt = 1  # beam search width
    device: str = "auto"  # auto (cuda when present) | cpu | cuda | cuda:N
    cache_dir: str = ".cache/capo/translations"  # on-disk cache keyed by model and text hash
    # translate each output back and score it against the source with chrF (twice the cost)
    round_trip: bool = False
    # quarantine translated pairs whose translation_confidence is below this; 0 = off
    min_confidence: Fraction = 0.0


@dataclass(frozen=True)
class IngestParams:
    """`ingest:` read, check, translate and split preference pairs (pipelines/data)."""

    languages: tuple[str, ...] = _BENCHMARK_LANGUAGES  # accepted languages; also the langid set
    test_fraction: Annotated[float, Range(ge=0, lt=1)] = 0.2  # source prompts hashed to test
    max_row_chars: PositiveInt = 20000  # longer rows (prompt + chosen + rejected): quarantined
    chunk_rows: PositiveInt = 5000  # rows per processing chunk (bounds memory)
    benchmark: BenchmarkParams = field(default_factory=BenchmarkParams)
    sources: tuple[SourceParams, ...] = ()
    translation: TranslationParams = field(default_factory=TranslationParams)
    # auto: conversations stay message lists, and when a run has some, plain pairs become one
    # user + one assistant turn; messages: always so; text: messages flattened to text
    chat_format: str = "auto"

    def __post_init__(self) -> None:
        if not self.languages:
            raise ValueError("languages: must name at least one language")
        if self.chat_format not in ("auto", "messages", "text"):
            raise ValueError(f"chat_format: expected auto, messages or text: {self.chat_format!r}")
        names = [s.name for s in self.sources]
        if len(set(names)) != len(names) or "benchmark" in names:
            raise ValueError(f"sources: names must be unique and not 'benchmark': {names}")


def _check_bounds(name: str, bounds: tuple[float, ...], low: float = 0.0) -> None:
    if len(bounds) != 2 or not low <= bounds[0] <= bounds[1]:
        raise ValueError(f"{name}: expected [min, max] with {low} <= min <= max, got {bounds}")


@dataclass(frozen=True)
class ValidateParams:
    """`validate:` the Great Expectations gate over data/pairs (pipelines/validation)."""

    languages: tuple[str, ...] = ("en", "de", "es", "fr", "ru", "hi", "ar", "zh", "ja")
    prompt_chars: tuple[int, ...] = (1, 8000)  # [min, max] prompt length in characters
    response_chars: tuple[int, ...] = (1, 8000)  # [min, max] chosen/rejected length
    length_ratio: tuple[float, ...] = (0.02, 50.0)  # [min, max] of len(chosen) / len(rejected)
    langid_columns: tuple[str, ...] = ("prompt", "chosen")  # texts identified as the row language
    langid_min_chars: NonNegativeInt = 12  # shorter texts only get a script check
    # quarantine a text only when lingua gives another configured language >= this
    langid_confidence: Annotated[float, Range(gt=0.5, le=1)] = 0.9
    max_failing_fraction: Fraction = 0.05  # gate: max quarantined share per language and overall
    # a language with fewer rows is not gated alone (its rows still count in the overall share):
    # under 1 / max_failing_fraction rows, one bad row is above the limit by itself
    min_language_rows: NonNegativeInt = 20

    def __post_init__(self) -> None:
        if not self.languages:
            raise ValueError("languages: must name at least one language")
        _check_bounds("prompt_chars", self.prompt_chars)
        _check_bounds("response_chars", self.response_chars)
        _check_bounds("length_ratio", self.length_ratio)
