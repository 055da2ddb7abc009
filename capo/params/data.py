"""`ingest:` and `validate:` sections of params.yaml: data sources, benchmark, checks."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Annotated, Any

from capo.params.parse import FlipRate, Fraction, NonNegativeInt, PositiveInt, Range

__all__ = ["BenchmarkParams", "IngestParams", "SourceParams", "TranslationParams", "ValidateParams"]


_BENCHMARK_LANGUAGES = ("en", "de", "es", "fr", "ru", "hi", "ar", "zh", "ja")


def _default_flip_rates() -> dict[str, float]:
    rates = {"de": 0.2, "es": 0.2, "fr": 0.25, "ru": 0.3, "hi": 0.4, "ar": 0.35, "zh": 0.3}
    return {"en": 0.0, **rates, "ja": 0.3}


@dataclass(frozen=True)
class BenchmarkParams:
    """`ingest.benchmark:` the built-in multilingual preference benchmark (capo/data/benchmark)."""

    enabled: bool = True  # generate the benchmark as the source named "benchmark"
    languages: tuple[str, ...] = _BENCHMARK_LANGUAGES  # prompt languages (CLDR codes)
    tasks: tuple[str, ...] = ()  # task families; empty = all (capo.data.benchmark_tasks.TASKS)
    train_pairs: NonNegativeInt = 1500  # training pairs in total, spread evenly over languages
    test_pairs: NonNegativeInt = 400  # clean test pairs in total
    max_number: PositiveInt = 100  # number_words asks for 0..max_number
    flip_rates: dict[str, FlipRate] = field(default_factory=_default_flip_rates)  # per language
    unscored_rate: Fraction = 0.1  # share of pairs without annotation scores (CAPO q = 1)

    def __post_init__(self) -> None:
        if not self.languages:
            raise ValueError("languages: must name at least one language")


@dataclass(frozen=True)
class SourceParams:
    """One entry of `ingest.sources:` a file or a Hugging Face dataset (capo/data/sources)."""

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
    """`ingest.translation:` machine translation of English sources (capo/data/translate)."""

    model: str | None = None  # HF id or path; "{tgt}" is filled per language (MarianMT)
    targets: tuple[str, ...] = ()  # languages to translate into
    source_language: str = "en"  # rows in this language are translated
    batch_size: PositiveInt = 16  # texts per generate() call
    max_new_tokens: PositiveInt = 128  # generation limit per text
    num_beams: PositiveInt = 1  # beam search width
    device: str = "auto"  # auto (cuda when present) | cpu | cuda | cuda:N
    cache_dir: str = ".cache/capo/translations"  # on-disk cache keyed by model and text hash


@dataclass(frozen=True)
class IngestParams:
    """`ingest:` read, check, translate and split preference pairs (capo/data)."""

    languages: tuple[str, ...] = _BENCHMARK_LANGUAGES  # accepted languages; also the langid set
    test_fraction: Annotated[float, Range(ge=0, lt=1)] = 0.2  # source prompts hashed to test
    max_row_chars: PositiveInt = 20000  # longer rows (prompt + chosen + rejected): quarantined
    chunk_rows: PositiveInt = 5000  # rows per processing chunk (bounds memory)
    benchmark: BenchmarkParams = field(default_factory=BenchmarkParams)
    sources: tuple[SourceParams, ...] = ()
    translation: TranslationParams = field(default_factory=TranslationParams)

    def __post_init__(self) -> None:
        if not self.languages:
            raise ValueError("languages: must name at least one language")
        names = [s.name for s in self.sources]
        if len(set(names)) != len(names) or "benchmark" in names:
            raise ValueError(f"sources: names must be unique and not 'benchmark': {names}")


def _check_bounds(name: str, bounds: tuple[float, ...], low: float = 0.0) -> None:
    if len(bounds) != 2 or not low <= bounds[0] <= bounds[1]:
        raise ValueError(f"{name}: expected [min, max] with {low} <= min <= max, got {bounds}")


@dataclass(frozen=True)
class ValidateParams:
    """`validate:` the Great Expectations gate over data/pairs (capo/validation)."""

    languages: tuple[str, ...] = ("en", "de", "es", "fr", "ru", "hi", "ar", "zh", "ja")
    prompt_chars: tuple[int, ...] = (1, 8000)  # [min, max] prompt length in characters
    response_chars: tuple[int, ...] = (1, 8000)  # [min, max] chosen/rejected length
    length_ratio: tuple[float, ...] = (0.02, 50.0)  # [min, max] of len(chosen) / len(rejected)
    langid_columns: tuple[str, ...] = ("prompt", "chosen")  # texts identified as the row language
    langid_min_chars: NonNegativeInt = 12  # shorter texts only get a script check
    # quarantine a text only when lingua gives another configured language >= this
    langid_confidence: float = 0.9
    max_failing_fraction: Fraction = 0.05  # gate: max quarantined share per language and overall

    def __post_init__(self) -> None:
        if not self.languages:
            raise ValueError("languages: must name at least one language")
        _check_bounds("prompt_chars", self.prompt_chars)
        _check_bounds("response_chars", self.response_chars)
        _check_bounds("length_ratio", self.length_ratio)
        if not 0.5 < self.langid_confidence <= 1.0:
            raise ValueError(f"langid_confidence: not in (0.5, 1]: {self.langid_confidence}")
