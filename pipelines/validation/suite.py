"""The GX expectation suite for preference pairs, built from the `validate:` params.

Every expectation carries ``meta = {"capo_name": ..., "capo_level": "row" | "table"}``:
row-level failures send the failing rows to quarantine; a table-level failure fails the
gate outright. Names are stable (type plus columns) and appear in the quarantine file,
reports/validation.json and the stage's error summary.
"""

from __future__ import annotations

import sys
from collections.abc import Iterable

import great_expectations as gx
import great_expectations.expectations as gxe
from great_expectations.expectations.expectation import Expectation

from capo_pipelines.data.contract import LANGUAGE_COLUMNS, SCORE_COLUMNS, SPLITS
from capo_pipelines.params import ValidateParams
from capo_pipelines.validation.expectations import (
    ExpectColumnPairTextToBeInRowLanguage,
    ExpectColumnPairValueLengthRatioToBeBetween,
    ExpectColumnPairValuesToDiffer,
    ExpectColumnPairValuesToStayInOneSplit,
    ExpectColumnValuesToHaveNoControlCharacters,
    ExpectColumnValuesToHaveVisibleText,
)

__all__ = ["REQUIRED_COLUMNS", "SCORE_COLUMNS", "SPLITS", "SUITE_NAME", "build_suite"]

SUITE_NAME = "capo_pairs"
REQUIRED_COLUMNS = (*LANGUAGE_COLUMNS, "source", "split")
_NUMERIC_DTYPES = ["float64", "float32", "Float64", "int64", "int32", "Int64"]


def _named(expectation: Expectation, level: str, *columns: str) -> Expectation:
    name = f"{expectation.expectation_type}({','.join(columns)})" if columns else None
    expectation.meta = {"capo_name": name or expectation.expectation_type, "capo_level": level}
    return expectation


def _table_expectations() -> Iterable[Expectation]:
    yield _named(
        gxe.ExpectTableColumnsToMatchSet(column_set=list(REQUIRED_COLUMNS), exact_match=False),
        "table",
    )
    yield _named(gxe.ExpectTableRowCountToBeBetween(min_value=1), "table")


def _row_expectations(p: ValidateParams, columns: set[str]) -> Iterable[Expectation]:
    for column in REQUIRED_COLUMNS:
        yield _named(gxe.ExpectColumnValuesToNotBeNull(column=column), "row", column)
        # Row-level on object columns; a non-text dtype fails the column as a whole.
        yield _named(gxe.ExpectColumnValuesToBeOfType(column=column, type_="str"), "row", column)
    yield _named(gxe.ExpectColumnValuesToBeUnique(column="id"), "row", "id")
    yield _named(
        gxe.ExpectColumnValuesToBeInSet(column="language", value_set=list(p.languages)),
        "row",
        "language",
    )
    yield _named(
        gxe.ExpectColumnValuesToBeInSet(column="split", value_set=list(SPLITS)), "row", "split"
    )
    for column, (low, high) in (
        ("prompt", p.prompt_chars),
        ("chosen", p.response_chars),
        ("rejected", p.response_chars),
    ):
        yield _named(
            gxe.ExpectColumnValueLengthsToBeBetween(column=column, min_value=low, max_value=high),
            "row",
            column,
        )
        visible = ExpectColumnValuesToHaveVisibleText(
            column=column,
            description=f"{column} must have a visible character (an empty text fails too): not"
            " only whitespace and zero-width or other format characters (U+200B, U+FEFF, ...)",
        )
        yield _named(visible, "row", column)
        controls = ExpectColumnValuesToHaveNoControlCharacters(
            column=column,
            description=f"{column} must hold no control character: C0 controls other than tab"
            " and line breaks, DEL (U+007F), C1 controls (U+0080-U+009F)",
        )
        yield _named(controls, "row", column)
    yield from _pair_expectations(p, columns)


def _pair_expectations(p: ValidateParams, columns: set[str]) -> Iterable[Expectation]:
    pair = {"column_A": "chosen", "column_B": "rejected"}
    differ = ExpectColumnPairValuesToDiffer(**pair, description="chosen must differ from rejected")
    yield _named(differ, "row", "chosen", "rejected")
    low, high = p.length_ratio
    ratio = ExpectColumnPairValueLengthRatioToBeBetween(
        **pair,
        min_value=low,
        max_value=high,
        description=f"len(chosen) / len(rejected) must be within [{low}, {high}]",
    )
    yield _named(ratio, "row", "chosen", "rejected")
    leak = ExpectColumnPairValuesToStayInOneSplit(
        column_A="prompt",
        column_B="split",
        description="no prompt may be in both train and test (train rows that repeat one fail)",
    )
    yield _named(leak, "row", "prompt", "split")
    for column in p.langid_columns:
        langid = ExpectColumnPairTextToBeInRowLanguage(
            column_A="language",
            column_B=column,
            languages=list(p.languages),
            min_chars=p.langid_min_chars,
            confidence=p.langid_confidence,
            description=f"{column} must be in the row's language: its letters in that"
            f" language's script, and not identified (lingua) as another configured language"
            f" with confidence >= {p.langid_confidence} (texts under {p.langid_min_chars}"
            " characters and name-like texts: script check only)",
        )
        yield _named(langid, "row", "language", column)


def _score_expectations(columns: Iterable[str]) -> Iterable[Expectation]:
    for column in (c for c in SCORE_COLUMNS if c in set(columns)):
        numeric = gxe.ExpectColumnValuesToBeInTypeList(column=column, type_list=_NUMERIC_DTYPES)
        yield _named(numeric, "table", column)
        finite = gxe.ExpectColumnValuesToBeBetween(
            column=column,
            min_value=-sys.float_info.max,
            max_value=sys.float_info.max,
            description=f"{column} must be finite when present (no inf; nulls allowed)",
        )
        yield _named(finite, "row", column)


def build_suite(params: ValidateParams, columns: Iterable[str] = ()) -> gx.ExpectationSuite:
    """The suite for a pairs table; score checks are added for score ``columns`` present."""
    expectations = [
        *_table_expectations(),
        *_row_expectations(params, set(columns)),
        *_score_expectations(columns),
    ]
    return gx.ExpectationSuite(name=SUITE_NAME, expectations=expectations)
