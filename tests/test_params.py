"""params.yaml schema: ranges checked where the fields are declared, errors on one line that
names the file, the dotted key (or line and column) and the problem."""

from __future__ import annotations

import dataclasses
import os
import re
import subprocess
import sys
import typing
from pathlib import Path

import pytest

from capo.errors import EXIT_INPUT, CapoError
from capo_pipelines.params import Params, ParamsError, load_params, parse_section
from capo_pipelines.params.parse import FlipRate, PositiveInt, Range

ROOT = Path(__file__).resolve().parents[1]


def _pythonpath() -> str:
    """This checkout first, then an inherited PYTHONPATH (a worktree's capo_pipelines)."""
    return os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))


@pytest.mark.parametrize(
    ("yaml_text", "message"),
    [
        ("loss: {gamma: -1}", "loss.gamma: must be >= 0, got -1.0"),
        ("loss: {tau: 0}", "loss.tau: must be > 0, got 0.0"),
        ("loss: {beta: 0}", "loss.beta: must be > 0, got 0.0"),
        ("loss: {label_smoothing: 0.5}", "loss.label_smoothing: must be in [0, 0.5), got 0.5"),
        ("ingest: {benchmark: {unscored_rate: 1.5}}", "unscored_rate: must be in [0, 1], got"),
        ("ingest: {test_fraction: 1.0}", "ingest.test_fraction: must be in [0, 1), got 1.0"),
        ("validate: {max_failing_fraction: 2}", "validate.max_failing_fraction: must be in [0, 1]"),
        ("train: {batch_size: 0}", "train.batch_size: must be >= 1, got 0"),
        ("train: {warmup_ratio: 1}", "train.warmup_ratio: must be in [0, 1), got 1.0"),
        ("train: {learning_rate: 0}", "train.learning_rate: must be > 0"),
        ("train: {lora: {r: 0}}", "train.lora.r: must be >= 1, got 0"),
        ("train: {loss_overrides: {robust: {gamma: -2}}}", "loss_overrides.robust.gamma: must be"),
        ("policy: {hidden_size: -8}", "policy.hidden_size: must be >= 1, got -8"),
        ("evaluate: {beta: -1}", "evaluate.beta: must be > 0, got -1.0"),
        ("register: {language_floor: 1.2}", "register.language_floor: must be in [0, 1]"),
        ("seed: -1", "seed: must be >= 0, got -1"),
        (
            "study: {regimes: [{name: a, noise: 0.1}, {name: b, noise: 0.5}]}",
            "study.regimes[1].noise: must be in [0, 0.5), got 0.5",
        ),
        ("loss: {kappa: 0}", "loss.kappa: must be > 0, got 0.0"),
        ("loss: {direction: sideways}", "loss.direction: must be one of down, up, got 'sideways'"),
        (
            "train: {loss_overrides: {capo: {direction: left}}}",
            "loss_overrides.capo.direction: must be one of down, up, got 'left'",
        ),
        ("ingest: {benchmark: {noise_model: bursty}}", "ingest.benchmark.noise_model: expected"),
        (
            "ingest: {translation: {min_confidence: 1.5}}",
            "ingest.translation.min_confidence: must be in [0, 1], got 1.5",
        ),
        (
            "study: {variants: [{name: sigmoid, loss: sigmoid, settings: {beta: 0}}]}",
            "study.variants[0].settings.beta: must be > 0, got 0.0",
        ),
    ],
)
def test_out_of_range_values_name_the_dotted_key(tmp_path, yaml_text, message):
    path = tmp_path / "params.yaml"
    path.write_text(yaml_text + "\n", encoding="utf-8")
    with pytest.raises(ParamsError) as info:
        load_params(path)
    assert str(info.value).startswith(f"{path}: ") and message in str(info.value)
    assert "\n" not in str(info.value)
    # a CapoError, so entry points print it as one line; still the ValueError it always was
    assert isinstance(info.value, CapoError) and isinstance(info.value, ValueError)


@dataclasses.dataclass(frozen=True)
class _Section:
    rates: dict[str, FlipRate] = dataclasses.field(default_factory=dict)
    sizes: tuple[PositiveInt, ...] = ()
    limit: typing.Annotated[int, Range(ge=-1, le=9)] | None = None  # one line: any range


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"rates": {"de": 0.5}}, "x.rates.de: must be in [0, 0.5), got 0.5"),
        ({"sizes": [3, 0]}, "x.sizes[1]: must be >= 1, got 0"),
        ({"limit": 10}, "x.limit: must be in [-1, 9], got 10"),
    ],
)
def test_ranges_apply_inside_mappings_lists_and_optionals(data, message):
    with pytest.raises(ParamsError, match=re.escape(message)):
        parse_section(_Section, data, "x")
    assert parse_section(_Section, {"limit": None, "rates": {"en": 0.0}}, "x").limit is None


def test_edge_values_pass_and_the_shipped_params_are_in_range(tmp_path):
    path = tmp_path / "params.yaml"
    path.write_text("loss: {gamma: 0, label_smoothing: 0.49}\ntrain: {warmup_ratio: 0}\n")
    params = load_params(path)
    assert params.loss.gamma == 0.0 and params.loss.label_smoothing == 0.49
    load_params(ROOT / "params.yaml")


def _ranged_fields(cls: type, where: str = "") -> dict[str, Range]:
    out = {}
    for name, hint in typing.get_type_hints(cls, include_extras=True).items():
        key = f"{where}.{name}" if where else name
        inner = typing.get_args(hint)[0] if typing.get_origin(hint) is typing.Union else hint
        if dataclasses.is_dataclass(inner):
            out |= _ranged_fields(inner, key)
        for meta in getattr(inner, "__metadata__", ()):
            if isinstance(meta, Range):
                out[key] = meta
    return out


def test_the_issue_ranges_are_declared_in_the_schema():
    ranges = {k: str(v) for k, v in _ranged_fields(Params).items()}
    assert ranges["loss.gamma"] == ">= 0" and ranges["loss.tau"] == "> 0"
    assert ranges["loss.beta"] == "> 0" and ranges["train.batch_size"] == ">= 1"
    assert ranges["ingest.benchmark.unscored_rate"] == "in [0, 1]"
    assert ranges["train.lora.dropout"] == "in [0, 1)"


@pytest.mark.parametrize(
    ("text", "line", "column", "problem"),
    [
        ("train:\n  losses: [capo\n  x: 1\n", 3, 4, "expected ',' or ']', but got ':'"),
        ("seed: 0\n  loss: 1\n", 2, 7, "mapping values are not allowed here"),
        ("loss:\n\tgamma: 1\n", 2, 1, "found character '\\t' that cannot start any token"),
    ],
)
def test_a_yaml_syntax_error_is_one_line_with_line_and_column(
    tmp_path, text, line, column, problem
):
    path = tmp_path / "params.yaml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ParamsError) as info:
        load_params(path)
    first = str(info.value).splitlines()[0]
    assert first.startswith(f"{path}: line {line}, column {column}: invalid YAML: {problem}")


@pytest.mark.parametrize(
    ("text", "first_line"),
    [
        ("train:\n  losses: [capo\n  x: 1\n", "params.yaml: line 3, column 4: invalid YAML"),
        ("loss:\n  gamma: -1\n", "params.yaml: loss.gamma: must be >= 0, got -1.0"),
    ],
)
def test_commands_print_the_error_first_on_one_line(tmp_path, text, first_line):
    (tmp_path / "params.yaml").write_text(text, encoding="utf-8")
    for argv in (
        ["-m", "capo.cli", "check-params", "params.yaml"],
        ["-m", "capo_pipelines.ingest", "--params", "params.yaml", "--out", "out"],
    ):
        proc = subprocess.run(
            [sys.executable, *argv],
            cwd=tmp_path,
            capture_output=True,
            text=True,
            env={"PYTHONPATH": _pythonpath(), "PATH": "/usr/bin:/bin"},
        )
        assert proc.returncode == EXIT_INPUT, proc.stderr
        assert first_line in proc.stderr.splitlines()[0] and "Traceback" not in proc.stderr


def test_lr_schedulers_are_transformers_own():
    from transformers.trainer_utils import SchedulerType

    from capo_pipelines.params.train_schema import LR_SCHEDULERS

    assert set(LR_SCHEDULERS) == {s.value for s in SchedulerType}


def test_a_misspelt_scheduler_is_one_params_line(tmp_path):
    path = tmp_path / "params.yaml"
    path.write_text("train: {lr_scheduler: cosin}\n", encoding="utf-8")
    with pytest.raises(ParamsError, match=r"train.lr_scheduler: unknown scheduler 'cosin'"):
        load_params(path)
