"""Custom GX expectations for preference pairs: vectorised pandas column and column-pair checks.

Importing this module registers six expectations with Great Expectations:

- ``ExpectColumnPairValuesToDiffer``: chosen != rejected (the built-in
  "unique within record" check applies a Python function per row, ~20x slower);
- ``ExpectColumnPairValueLengthRatioToBeBetween``: len(A) / len(B) within bounds;
- ``ExpectColumnPairValuesToStayInOneSplit``: a value of A (the prompt) seen in the
  held-out split (B == held_out) flags every other-split row that repeats it;
- ``ExpectColumnPairTextToBeInRowLanguage``: text B in the language in A (data/langid.py);
- ``ExpectColumnValuesToHaveVisibleText``: some character that renders, not only whitespace
  and zero-width or other format characters (data/contract.py ``is_visible``);
- ``ExpectColumnValuesToHaveNoControlCharacters``: no C0 control but tab and line breaks, no
  DEL, no C1 control (data/contract.py ``control_characters``).
"""

from __future__ import annotations

from typing import ClassVar, Literal

import numpy as np
import pandas as pd
from great_expectations.execution_engine import PandasExecutionEngine
from great_expectations.expectations.expectation import (
    ColumnMapExpectation,
    ColumnPairMapExpectation,
)
from great_expectations.expectations.metrics.map_metric_provider import (
    ColumnMapMetricProvider,
    ColumnPairMapMetricProvider,
    column_condition_partial,
    column_pair_condition_partial,
)

from capo_pipelines.data.contract import control_characters, is_visible
from capo_pipelines.data.langid import CONFIDENT, language_mismatch

__all__ = [
    "ExpectColumnPairTextToBeInRowLanguage",
    "ExpectColumnPairValueLengthRatioToBeBetween",
    "ExpectColumnPairValuesToDiffer",
    "ExpectColumnPairValuesToStayInOneSplit",
    "ExpectColumnValuesToHaveNoControlCharacters",
    "ExpectColumnValuesToHaveVisibleText",
]

IgnoreRowIf = Literal["both_values_are_missing", "either_value_is_missing", "neither"]
_DOMAIN_KEYS = ("batch_id", "table", "column_A", "column_B", "row_condition", "condition_parser")


class _PairMetric(ColumnPairMapMetricProvider):
    condition_domain_keys = (*_DOMAIN_KEYS, "ignore_row_if")


class ColumnPairValuesDiffer(_PairMetric):
    """Row condition: A != B."""

    condition_metric_name = "column_pair_values.capo_differ"
    condition_value_keys = ()

    @column_pair_condition_partial(engine=PandasExecutionEngine)
    def _pandas(cls, column_A: pd.Series, column_B: pd.Series, **kwargs: object) -> pd.Series:
        return column_A != column_B


class ColumnPairLengthRatioBetween(_PairMetric):
    """Row condition: min_value <= len(A) / len(B) <= max_value (len(B) == 0 fails)."""

    condition_metric_name = "column_pair_values.capo_length_ratio_between"
    condition_value_keys = ("min_value", "max_value")

    @column_pair_condition_partial(engine=PandasExecutionEngine)
    def _pandas(cls, column_A: pd.Series, column_B: pd.Series, **kwargs: object) -> pd.Series:
        len_b = column_B.astype(str).str.len().to_numpy(dtype=float)
        with np.errstate(divide="ignore", invalid="ignore"):
            ratio = column_A.astype(str).str.len().to_numpy(dtype=float) / len_b
        ok = np.isfinite(ratio) & (ratio >= kwargs["min_value"]) & (ratio <= kwargs["max_value"])
        return pd.Series(ok, index=column_A.index)


class ColumnPairStayInOneSplit(_PairMetric):
    """Row condition: B == held_out, or A never occurs in a held-out row."""

    condition_metric_name = "column_pair_values.capo_stay_in_one_split"
    condition_value_keys = ("held_out",)

    @column_pair_condition_partial(engine=PandasExecutionEngine)
    def _pandas(cls, column_A: pd.Series, column_B: pd.Series, **kwargs: object) -> pd.Series:
        held = column_B == kwargs["held_out"]
        return held | ~column_A.isin(pd.unique(column_A[held]))


class ColumnPairTextInRowLanguage(_PairMetric):
    """Row condition: text B is not confidently in another language than A (data/langid.py)."""

    condition_metric_name = "column_pair_values.capo_text_in_row_language"
    condition_value_keys = ("languages", "min_chars", "confidence")

    @column_pair_condition_partial(engine=PandasExecutionEngine)
    def _pandas(cls, column_A: pd.Series, column_B: pd.Series, **kwargs: object) -> pd.Series:
        bad = language_mismatch(
            column_B.astype(str).tolist(),
            column_A.astype(str).tolist(),
            kwargs["languages"],
            min_chars=kwargs["min_chars"],
            confidence=kwargs["confidence"],
        )
        return pd.Series(~bad, index=column_A.index)


class ColumnValuesVisibleText(ColumnMapMetricProvider):
    """Row condition: the text has a character that renders (data/contract.py)."""

    condition_metric_name = "column_values.capo_visible_text"

    @column_condition_partial(engine=PandasExecutionEngine)
    def _pandas(cls, column: pd.Series, **kwargs: object) -> pd.Series:
        return column.astype(str).map(is_visible).astype(bool)


class ColumnValuesNoControlCharacters(ColumnMapMetricProvider):
    """Row condition: the text holds no control character but tab and line breaks."""

    condition_metric_name = "column_values.capo_no_control_characters"

    @column_condition_partial(engine=PandasExecutionEngine)
    def _pandas(cls, column: pd.Series, **kwargs: object) -> pd.Series:
        return column.astype(str).map(lambda text: not control_characters(text)).astype(bool)


class ExpectColumnPairValuesToDiffer(ColumnPairMapExpectation):
    """Expect the values in column A and column B to differ in every row."""

    ignore_row_if: IgnoreRowIf = "either_value_is_missing"
    map_metric = "column_pair_values.capo_differ"
    success_keys: ClassVar[tuple[str, ...]] = ("column_A", "column_B", "ignore_row_if", "mostly")
    args_keys = ("column_A", "column_B")


class ExpectColumnPairValueLengthRatioToBeBetween(ColumnPairMapExpectation):
    """Expect len(A) / len(B) to lie in [min_value, max_value] in every row."""

    min_value: float
    max_value: float
    ignore_row_if: IgnoreRowIf = "either_value_is_missing"
    map_metric = "column_pair_values.capo_length_ratio_between"
    success_keys: ClassVar[tuple[str, ...]] = ("min_value", "max_value", "ignore_row_if", "mostly")
    args_keys = ("column_A", "column_B", "min_value", "max_value")


class ExpectColumnPairValuesToStayInOneSplit(ColumnPairMapExpectation):
    """Expect no value of A (a prompt) to occur both in the held-out split and outside it."""

    held_out: str = "test"
    ignore_row_if: IgnoreRowIf = "either_value_is_missing"
    map_metric = "column_pair_values.capo_stay_in_one_split"
    success_keys: ClassVar[tuple[str, ...]] = ("held_out", "ignore_row_if", "mostly")
    args_keys = ("column_A", "column_B", "held_out")


class ExpectColumnPairTextToBeInRowLanguage(ColumnPairMapExpectation):
    """Expect the text in column B to be in the language code in column A: its letters in
    that language's script and, unless short or name-like, not confidently another language."""

    languages: list[str]
    min_chars: int = 12
    confidence: float = CONFIDENT
    ignore_row_if: IgnoreRowIf = "either_value_is_missing"
    map_metric = "column_pair_values.capo_text_in_row_language"
    success_keys: ClassVar[tuple[str, ...]] = (
        "languages",
        "min_chars",
        "confidence",
        "ignore_row_if",
        "mostly",
    )
    args_keys = ("column_A", "column_B", "languages", "min_chars", "confidence")


class ExpectColumnValuesToHaveVisibleText(ColumnMapExpectation):
    """Expect every text to have a visible character: not only whitespace and zero-width or
    other format characters (U+200B, U+200D, U+2060, U+FEFF, ...), which render as nothing."""

    map_metric = "column_values.capo_visible_text"
    success_keys: ClassVar[tuple[str, ...]] = ("mostly",)


class ExpectColumnValuesToHaveNoControlCharacters(ColumnMapExpectation):
    """Expect no text to hold a control character: C0 controls other than tab, LF and CR,
    DEL and C1 controls (a broken export, or cp1252 text read as latin-1)."""

    map_metric = "column_values.capo_no_control_characters"
    success_keys: ClassVar[tuple[str, ...]] = ("mostly",)
