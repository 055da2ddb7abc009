"""Typed schema of params.yaml: one frozen dataclass per section; unknown keys are errors."""

from __future__ import annotations

import dataclasses
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

__all__ = [
    "BenchmarkParams",
    "CompareParams",
    "EvaluateParams",
    "IngestParams",
    "LoraParams",
    "LossParams",
    "Params",
    "ParamsError",
    "PolicyParams",
    "ReferenceParams",
    "SourceParams",
    "TrainParams",
    "TranslationParams",
    "ValidateParams",
    "load_params",
    "parse_section",
]


class ParamsError(ValueError):
    """A params.yaml problem, reported with the file and the dotted key."""


@dataclass(frozen=True)
class LossParams:
    """`loss:` the preference loss and its hyper-parameters (DESIGN.md §1)."""

    type: str = "capo"  # capo, or any TRL DPO loss_type (sigmoid, ipo, robust, hinge, ...)
    beta: float = 0.1  # KL strength: scale of the implicit rewards
    gamma: float = 1.0  # CAPO confidence exponent; 0 = no model-confidence weighting
    tau: float = 1.0  # CAPO confidence temperature
    kappa: float = 1.0  # CAPO data-confidence slope on annotation-score differences
    label_smoothing: float = 0.0  # conservative-DPO epsilon (sigmoid/robust/capo)


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
    train_pairs: int = 1500  # training pairs in total, spread evenly over languages
    test_pairs: int = 400  # clean test pairs in total
    max_number: int = 100  # number_words asks for 0..max_number
    flip_rates: dict[str, float] = field(default_factory=_default_flip_rates)  # per language
    unscored_rate: float = 0.1  # share of pairs without annotation scores (CAPO q = 1)

    def __post_init__(self) -> None:
        if not self.languages:
            raise ValueError("languages: must name at least one language")
        if self.train_pairs < 0 or self.test_pairs < 0 or self.max_number < 1:
            raise ValueError("train_pairs, test_pairs must be >= 0 and max_number >= 1")
        for lang, rate in self.flip_rates.items():
            if not 0.0 <= rate <= 1.0:
                raise ValueError(f"flip_rates.{lang}: not in [0, 1]: {rate}")
        if not 0.0 <= self.unscored_rate <= 1.0:
            raise ValueError(f"unscored_rate: not in [0, 1]: {self.unscored_rate}")


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
    batch_size: int = 16  # texts per generate() call
    max_new_tokens: int = 128  # generation limit per text
    num_beams: int = 1  # beam search width
    device: str = "auto"  # auto (cuda when present) | cpu | cuda | cuda:N
    cache_dir: str = ".cache/capo/translations"  # on-disk cache keyed by model and text hash

    def __post_init__(self) -> None:
        if self.batch_size < 1 or self.max_new_tokens < 1 or self.num_beams < 1:
            raise ValueError("batch_size, max_new_tokens and num_beams must be >= 1")


@dataclass(frozen=True)
class IngestParams:
    """`ingest:` read, check, translate and split preference pairs (capo/data)."""

    languages: tuple[str, ...] = _BENCHMARK_LANGUAGES  # accepted languages; also the langid set
    test_fraction: float = 0.2  # share of source prompts hashed into the test split
    max_row_chars: int = 20000  # rows with longer prompt + chosen + rejected are quarantined
    chunk_rows: int = 5000  # rows per processing chunk (bounds memory)
    benchmark: BenchmarkParams = field(default_factory=BenchmarkParams)
    sources: tuple[SourceParams, ...] = ()
    translation: TranslationParams = field(default_factory=TranslationParams)

    def __post_init__(self) -> None:
        if not self.languages:
            raise ValueError("languages: must name at least one language")
        if not 0.0 <= self.test_fraction < 1.0:
            raise ValueError(f"test_fraction: not in [0, 1): {self.test_fraction}")
        if self.max_row_chars < 1 or self.chunk_rows < 1:
            raise ValueError("max_row_chars and chunk_rows must be >= 1")
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
    langid_min_chars: int = 12  # shorter texts only get a script check (too short to identify)
    max_failing_fraction: float = 0.05  # gate: max quarantined share per language and overall

    def __post_init__(self) -> None:
        if not self.languages:
            raise ValueError("languages: must name at least one language")
        _check_bounds("prompt_chars", self.prompt_chars)
        _check_bounds("response_chars", self.response_chars)
        _check_bounds("length_ratio", self.length_ratio)
        if self.langid_min_chars < 0:
            raise ValueError(f"langid_min_chars: must be >= 0, got {self.langid_min_chars}")
        if not 0.0 <= self.max_failing_fraction <= 1.0:
            raise ValueError(f"max_failing_fraction: not in [0, 1]: {self.max_failing_fraction}")


BUILTIN_MODEL = "builtin-tiny"
# "capo" plus TRL 1.16's DPO loss types (trl/trainer/dpo_config.py, `loss_type` help).
KNOWN_LOSSES = ("capo", "sigmoid", "hinge", "ipo", "exo_pair", "nca_pair", "robust", "bco_pair")
KNOWN_LOSSES += ("sppo_hard", "aot", "aot_unpaired", "apo_zero", "apo_down", "discopop", "sft")
KNOWN_LOSSES += ("sigmoid_norm",)
_OVERRIDABLE = ("beta", "gamma", "tau", "kappa", "label_smoothing")


@dataclass(frozen=True)
class PolicyParams:
    """`policy:` the starting policy, also the frozen reference (capo/policy.py)."""

    model: str = BUILTIN_MODEL  # builtin-tiny, or a Hugging Face model id / local directory
    trust_remote_code: bool = False  # let a hub/local model run its own modelling code
    max_length: int = 256  # token limit of prompt+completion in SFT, reference and training
    vocab_size: int = 3000  # builtin-tiny: byte-level BPE vocabulary size
    hidden_size: int = 128  # builtin-tiny: hidden width
    num_layers: int = 2  # builtin-tiny: decoder layers
    num_heads: int = 4  # builtin-tiny: attention heads
    sft_epochs: float = 4.0  # SFT epochs on prompt+chosen; 0 = no SFT (hub models only)
    sft_batch_size: int = 16  # SFT examples per step
    sft_learning_rate: float = 3e-3  # SFT peak learning rate (tiny random init: high)

    def __post_init__(self) -> None:
        for name in ("max_length", "vocab_size", "hidden_size", "num_layers", "num_heads"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name}: must be >= 1, got {getattr(self, name)}")
        if self.hidden_size % self.num_heads:
            raise ValueError(f"hidden_size {self.hidden_size} not divisible by num_heads")
        if self.sft_epochs < 0 or self.sft_batch_size < 1 or not self.sft_learning_rate > 0:
            raise ValueError("sft_epochs must be >= 0, sft_batch_size >= 1, sft_learning_rate > 0")


@dataclass(frozen=True)
class ReferenceParams:
    """`reference:` reference log-probs of every pair under the policy (capo/reference.py)."""

    batch_size: int = 32  # pairs per forward pass (each pair is two sequences)
    bucket: bool = True  # sort pairs by length before batching (less padding)
    device: str = "auto"  # auto (cuda when present) | cpu | cuda | cuda:N

    def __post_init__(self) -> None:
        if self.batch_size < 1:
            raise ValueError(f"batch_size: must be >= 1, got {self.batch_size}")


@dataclass(frozen=True)
class LoraParams:
    """`train.lora:` train a LoRA adapter instead of all weights (peft); merged on save."""

    enabled: bool = False  # train LoRA adapters only
    r: int = 8  # adapter rank
    alpha: int = 16  # adapter scaling numerator
    dropout: float = 0.0  # adapter dropout
    target_modules: tuple[str, ...] = ("q_proj", "k_proj", "v_proj", "o_proj")  # wrapped layers


def _default_overrides() -> dict[str, dict[str, float]]:
    return {"robust": {"label_smoothing": 0.1}}


@dataclass(frozen=True)
class TrainParams:
    """`train:` preference training, one run per loss in a DVC matrix (capo/training.py)."""

    losses: tuple[str, ...] = ("capo", "sigmoid", "ipo", "robust")  # the matrix
    loss_overrides: dict[str, dict[str, float]] = field(default_factory=_default_overrides)
    epochs: float = 1.0  # passes over the training pairs
    max_steps: int = -1  # stop after this many optimizer steps; -1 = epochs decide
    batch_size: int = 16  # pairs per optimizer step, over all processes together
    gradient_accumulation_steps: int = 1  # micro-batches per optimizer step
    learning_rate: float = 5e-4  # peak learning rate
    lr_scheduler: str = "cosine"  # transformers scheduler name
    warmup_ratio: float = 0.1  # share of steps spent warming up
    weight_decay: float = 0.0  # AdamW weight decay
    max_grad_norm: float = 1.0  # gradient clipping; 0 = none
    logging_steps: int = 5  # log metrics every N steps
    eval_steps: int = 0  # evaluate on the test pairs every N steps; 0 = only at the end
    save_steps: int = 25  # checkpoint every N steps (a killed run resumes from the last)
    save_total_limit: int = 2  # checkpoints kept
    lora: LoraParams = field(default_factory=LoraParams)

    def __post_init__(self) -> None:
        if not self.losses or len(set(self.losses)) != len(self.losses):
            raise ValueError(f"losses: must be a non-empty list without repeats: {self.losses}")
        for i, name in enumerate(self.losses):
            if name not in KNOWN_LOSSES:
                raise ValueError(f"losses[{i}]: unknown loss {name!r} (known: {KNOWN_LOSSES})")
        for name, values in self.loss_overrides.items():
            bad = sorted(set(values) - set(_OVERRIDABLE))
            if name not in KNOWN_LOSSES or bad:
                raise ValueError(f"loss_overrides.{name}: unknown loss, or bad keys {bad}")
        if self.batch_size < 1 or self.gradient_accumulation_steps < 1:
            raise ValueError("batch_size and gradient_accumulation_steps must be >= 1")
        if self.logging_steps < 1 or self.save_steps < 1 or self.eval_steps < 0:
            raise ValueError("logging_steps and save_steps must be >= 1, eval_steps >= 0")
        if not 0.0 <= self.warmup_ratio < 1.0:
            raise ValueError(f"warmup_ratio: not in [0, 1): {self.warmup_ratio}")


@dataclass(frozen=True)
class RegisterParams:
    """`register:` the promotion gate and the packaged model's name and card."""

    name: str = "capo-policy"  # artifact name (DVC artifact, GTO tags, model card)
    loss: str = "capo"  # which trained model (a train.losses entry) to promote
    baseline: str = "sigmoid"  # the DPO baseline it must beat
    min_reward_accuracy: float = 0.5  # minimum overall test reward accuracy
    language_floor: float = 0.3  # no language's reward accuracy below this
    min_gain_over_baseline: float = 0.0  # overall reward-accuracy points over the baseline
    license: str = "other"  # model-card license field (placeholder until decided)

    def __post_init__(self) -> None:
        for key in ("min_reward_accuracy", "language_floor"):
            if not 0.0 <= getattr(self, key) <= 1.0:
                raise ValueError(f"{key}: not in [0, 1]: {getattr(self, key)}")


@dataclass(frozen=True)
class EvaluateParams:
    """`evaluate:` per-language metrics of each trained loss on the clean test split."""

    batch_size: int = 32  # pairs per log-prob forward pass; prompts per generate() call
    max_new_tokens: int = 24  # greedy generation cap per answer (benchmark answers are short)
    beta: float | None = None  # reward scale r = beta * log(pi/pi_ref); null = the loss's beta
    reference_generation: bool = True  # also score models/policy's answers, for context
    device: str = "auto"  # auto (cuda when present) | cpu | cuda | cuda:N

    def __post_init__(self) -> None:
        if self.batch_size < 1 or self.max_new_tokens < 1:
            raise ValueError("batch_size and max_new_tokens must be >= 1")
        if self.beta is not None and not self.beta > 0:
            raise ValueError(f"beta: must be > 0 or null, got {self.beta}")


@dataclass(frozen=True)
class CompareParams:
    """`compare:` CAPO against each baseline, per language (capo/compare.py)."""

    candidate: str = "capo"  # the loss compared with every other loss in train.losses
    baseline: str = "sigmoid"  # the headline baseline (DPO)
    worse_tolerance: float = 0.0  # a language is "worse" when below the baseline by more
    dpi: int = 110  # PNG chart resolution

    def __post_init__(self) -> None:
        if self.candidate == self.baseline:
            raise ValueError(f"candidate and baseline are both {self.candidate!r}")
        if self.worse_tolerance < 0 or self.dpi < 10:
            raise ValueError("worse_tolerance must be >= 0 and dpi >= 10")


@dataclass(frozen=True)
class Params:
    """The whole params.yaml. Stage sections are added here as their stages land."""

    seed: int = 0
    loss: LossParams = field(default_factory=LossParams)
    ingest: IngestParams = field(default_factory=IngestParams)
    validate: ValidateParams = field(default_factory=ValidateParams)
    policy: PolicyParams = field(default_factory=PolicyParams)
    reference: ReferenceParams = field(default_factory=ReferenceParams)
    train: TrainParams = field(default_factory=TrainParams)
    register: RegisterParams = field(default_factory=RegisterParams)
    evaluate: EvaluateParams = field(default_factory=EvaluateParams)
    compare: CompareParams = field(default_factory=CompareParams)


def _check_type(value: Any, hint: Any, where: str) -> Any:
    origin = typing.get_origin(hint)
    if hint is Any:
        return value
    if dataclasses.is_dataclass(hint):
        return parse_section(hint, value, where)
    if origin in (typing.Union, types.UnionType):
        args = typing.get_args(hint)
        if value is None and type(None) in args:
            return None
        inner = [a for a in args if a is not type(None)]
        return _check_type(value, inner[0], where) if len(inner) == 1 else value
    if origin in (list, tuple):
        if not isinstance(value, list):
            raise ParamsError(f"{where}: expected a list, got {value!r}")
        (item,) = typing.get_args(hint)[:1] or (Any,)
        return tuple(_check_type(v, item, f"{where}[{i}]") for i, v in enumerate(value))
    if origin is dict:
        if not isinstance(value, dict):
            raise ParamsError(f"{where}: expected a mapping, got {value!r}")
        _, vhint = typing.get_args(hint) or (Any, Any)
        return {k: _check_type(v, vhint, f"{where}.{k}") for k, v in value.items()}
    if hint is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if hint in (int, float, str, bool) and not (
        isinstance(value, hint) and not (hint is int and isinstance(value, bool))
    ):
        raise ParamsError(f"{where}: expected {hint.__name__}, got {value!r}")
    return value


def parse_section(cls: type, data: Any, where: str) -> Any:
    """Build dataclass ``cls`` from a mapping, rejecting unknown keys and wrong types."""
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ParamsError(f"{where}: expected a mapping, got {data!r}")
    hints = typing.get_type_hints(cls)
    names = [f.name for f in dataclasses.fields(cls)]
    unknown = sorted(set(data) - set(names))
    if unknown:
        raise ParamsError(f"{where}.{unknown[0]}: unknown key (known: {', '.join(names)})")
    values = {k: _check_type(v, hints[k], f"{where}.{k}") for k, v in data.items()}
    try:
        return cls(**values)
    except (TypeError, ValueError) as err:
        raise ParamsError(f"{where}: {err}") from err


def load_params(path: str | Path = "params.yaml") -> Params:
    """Read and validate params.yaml; errors name the file and the dotted key."""
    path = Path(path)
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as err:
        raise ParamsError(f"{path}: cannot read params: {err}") from err
    try:
        return parse_section(Params, raw, "params")
    except ParamsError as err:
        raise ParamsError(f"{path}: {err}") from err
