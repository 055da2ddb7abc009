"""Typed schema of params.yaml: one frozen dataclass per section; unknown keys are errors.

params = load_params("params.yaml")      # ParamsError names the file and dotted key
params.train.losses, params.loss.gamma
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from capo_pipelines.params.data import (
    BenchmarkParams,
    IngestParams,
    SourceParams,
    TranslationParams,
    ValidateParams,
)
from capo_pipelines.params.parse import NonNegativeInt, ParamsError, parse_section
from capo_pipelines.params.results import CompareParams, EvaluateParams, RegisterParams
from capo_pipelines.params.study_schema import StudyParams, StudyRegime, StudyVariant
from capo_pipelines.params.train_schema import (
    BUILTIN_MODEL,
    KNOWN_LOSSES,
    SELECTION_LOSSES,
    LoraParams,
    LossParams,
    PolicyParams,
    ReferenceParams,
    TrainParams,
)

__all__ = [
    "BUILTIN_MODEL",
    "KNOWN_LOSSES",
    "SELECTION_LOSSES",
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
    "RegisterParams",
    "SourceParams",
    "StudyParams",
    "StudyRegime",
    "StudyVariant",
    "TrainParams",
    "TranslationParams",
    "ValidateParams",
    "apply_profile",
    "load_params",
    "parse_section",
    "yaml_error",
]


@dataclass(frozen=True)
class Params:
    """The whole params.yaml. Stage sections are added here as their stages land."""

    seed: NonNegativeInt = 0
    loss: LossParams = field(default_factory=LossParams)
    ingest: IngestParams = field(default_factory=IngestParams)
    validate: ValidateParams = field(default_factory=ValidateParams)
    policy: PolicyParams = field(default_factory=PolicyParams)
    reference: ReferenceParams = field(default_factory=ReferenceParams)
    train: TrainParams = field(default_factory=TrainParams)
    register: RegisterParams = field(default_factory=RegisterParams)
    evaluate: EvaluateParams = field(default_factory=EvaluateParams)
    compare: CompareParams = field(default_factory=CompareParams)
    study: StudyParams = field(default_factory=StudyParams)


def yaml_error(path: str | Path, err: yaml.YAMLError) -> str:
    """One line naming file, line, column and problem; the marked source line follows."""
    mark = getattr(err, "problem_mark", None)
    problem = getattr(err, "problem", None) or str(err).splitlines()[0]
    context, cmark = getattr(err, "context", None), getattr(err, "context_mark", None)
    if context and cmark and (not mark or cmark.line != mark.line):
        context += f" from line {cmark.line + 1}, column {cmark.column + 1}"
    where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark else ""
    head = f"{path}: {where}invalid YAML: {problem}" + (f" ({context})" if context else "")
    snippet = mark.get_snippet() if mark else None
    return head + (f"\n{snippet}" if snippet else "")


def _read_yaml(path: Path, what: str) -> Any:
    try:
        return yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as err:
        raise ParamsError(f"{path}: cannot read {what}: {err.strerror or err}") from err
    except UnicodeDecodeError as err:
        raise ParamsError(f"{path}: byte {err.start}: not valid UTF-8") from err
    except yaml.YAMLError as err:
        raise ParamsError(yaml_error(path, err)) from err


def apply_profile(raw: Any, profile: str | Path) -> Any:
    """``raw`` params with a profile's overrides set: a YAML mapping of dotted keys to values
    (profiles/*.yaml, the keys of ``dvc exp run -S``); a value replaces the key's whole value."""
    path = Path(profile)
    sets = _read_yaml(path, "profile")
    if not isinstance(sets, dict):
        raise ParamsError(f"{path}: a profile is a mapping of dotted params keys to values")
    raw = copy.deepcopy(raw) if isinstance(raw, dict) else {}
    for key, value in sets.items():
        parts = str(key).split(".")
        node = raw
        for i, part in enumerate(parts[:-1]):
            child = node.setdefault(part, {})
            if not isinstance(child, dict):
                where = ".".join(parts[: i + 1])
                raise ParamsError(f"{path}: {key}: {where} is not a section")
            node = child
        node[parts[-1]] = value
    return raw


def load_params(path: str | Path = "params.yaml", profile: str | Path | None = None) -> Params:
    """Read and validate params.yaml, with a profile's overrides (``apply_profile``) if
    given; errors name the file and the dotted key."""
    path = Path(path)
    raw = _read_yaml(path, "params")
    if profile is not None:
        raw = apply_profile(raw, profile)
        path = Path(f"{path} + {profile}")
    loss = raw.get("loss") if isinstance(raw, dict) else None
    if isinstance(loss, dict) and "type" in loss:  # read by no stage: removed in capo 0.2
        raise ParamsError(
            f"{path}: loss.type: no longer a setting: train.losses names the losses to train "
            "(capo and its baselines), and `loss:` holds their settings; delete the key"
        )
    try:
        return parse_section(Params, raw, "")
    except ParamsError as err:
        raise ParamsError(f"{path}: {err}") from err
