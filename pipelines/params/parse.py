"""Strict parsing of a params mapping into frozen dataclasses: unknown keys are errors.

Value ranges live in the field types, so the schema is the one place they are defined (the
loss settings' own ranges in capo/settings.py, whose Range this module shares):

    gamma: NonNegative = 1.0                          # >= 0
    noise: Annotated[float, Range(ge=0, lt=0.5)] = 0.2  # any other range: one Range
"""

from __future__ import annotations

import dataclasses
import re
import types
import typing
from typing import Annotated, Any

from capo.errors import CapoError
from capo.settings import FlipRate, Fraction, NonNegative, Positive, Range

__all__ = [
    "FlipRate",
    "Fraction",
    "NonNegative",
    "NonNegativeInt",
    "ParamsError",
    "Positive",
    "PositiveInt",
    "Range",
    "Rate",
    "check_field",
    "parse_section",
]


class ParamsError(CapoError, ValueError):
    """A params.yaml problem, reported with the file and the dotted key.

    A CapoError, so every entry point reports it as one line; still a ValueError, as it
    was (callers that catch ValueError keep working)."""


Rate = Annotated[float, Range(ge=0, lt=1)]  # [0, 1): a rate that cannot be everything
PositiveInt = Annotated[int, Range(ge=1)]  # sizes and counts
NonNegativeInt = Annotated[int, Range(ge=0)]


def _key(where: str, name: str) -> str:
    return f"{where}.{name}" if where else name


def _check_type(value: Any, hint: Any, where: str) -> Any:
    origin = typing.get_origin(hint)
    if hint is Any:
        return value
    if origin is Annotated:
        inner, *extras = typing.get_args(hint)
        value = _check_type(value, inner, where)
        for bound in (e for e in extras if isinstance(e, Range)):
            if not bound.contains(value):
                raise ParamsError(f"{where}: must be {bound}, got {value!r}")
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
        return {k: _check_type(v, vhint, _key(where, k)) for k, v in value.items()}
    if hint is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if hint in (int, float, str, bool) and not (
        isinstance(value, hint) and not (hint is int and isinstance(value, bool))
    ):
        raise ParamsError(f"{where}: expected {hint.__name__}, got {value!r}")
    return value


def check_field(cls: type, name: str, value: Any, where: str) -> Any:
    """``value`` checked against field ``name`` of ``cls`` (type and range), as parsing does."""
    return _check_type(value, typing.get_type_hints(cls, include_extras=True)[name], where)


def parse_section(cls: type, data: Any, where: str) -> Any:
    """Build dataclass ``cls`` from a mapping, rejecting unknown keys, wrong types and ranges.

    ``where`` is the section's dotted key ("" for the whole file); errors name the full key.
    """
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ParamsError(f"{where or 'params'}: expected a mapping, got {data!r}")
    hints = typing.get_type_hints(cls, include_extras=True)
    names = [f.name for f in dataclasses.fields(cls)]
    unknown = sorted(set(data) - set(names), key=str)
    if unknown:
        raise ParamsError(f"{_key(where, unknown[0])}: unknown key (known: {', '.join(names)})")
    values = {k: _check_type(v, hints[k], _key(where, k)) for k, v in data.items()}
    try:
        return cls(**values)
    except (TypeError, ValueError) as err:
        raise ParamsError(_section_error(where, names, str(err))) from err


def _section_error(where: str, names: list[str], message: str) -> str:
    """A section's own check, under its dotted key ("key: ..." becomes "where.key: ...")."""
    own = re.match(r"(\w+) (must .*)", message)  # "kappa must be > 0": a setting's own check
    if where and own and own.group(1) in names:
        return f"{where}.{own.group(1)}: {own.group(2)}"
    head = re.match(r"(\w+)[.:\[]", message)
    if where and head and head.group(1) in names:
        return f"{where}.{message}"
    return f"{where}: {message}" if where else message
