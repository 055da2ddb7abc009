"""Read a GX suite validation result into plain per-expectation outcomes.

GX does not raise when an expectation cannot be evaluated: it reports success=False
with ``exception_info`` (flat, or one entry per failed metric). Such an outcome is an
*error*, kept apart from an ordinary failure, and never read as a pass.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from great_expectations.core import (
    ExpectationSuiteValidationResult,
    ExpectationValidationResult,
)

__all__ = ["ExpectationOutcome", "collect_outcomes", "exception_message"]


@dataclass(frozen=True)
class ExpectationOutcome:
    """One expectation's result: row-level ones carry the positions of failing rows."""

    name: str
    level: str  # "row" or "table"
    success: bool
    unexpected_count: int
    unexpected_index: tuple[int, ...]
    error: str | None = None  # the exception message when the expectation errored

    @property
    def passed(self) -> bool:
        return self.success and self.error is None


def exception_message(info: Mapping[str, Any] | None) -> str | None:
    """The first raised exception's message in a GX ``exception_info``, else None."""
    if not info:
        return None
    if "raised_exception" in info:
        if not info.get("raised_exception"):
            return None
        return str(info.get("exception_message") or "unknown error")
    for entry in info.values():  # {metric id: {raised_exception, exception_message, ...}}
        message = exception_message(entry) if isinstance(entry, Mapping) else None
        if message:
            return message
    return None


def _outcome(result: ExpectationValidationResult) -> ExpectationOutcome:
    config = result.expectation_config
    meta = config.meta or {}
    details = result.result or {}
    error = exception_message(result.exception_info)
    index = () if error else tuple(int(i) for i in details.get("unexpected_index_list") or ())
    return ExpectationOutcome(
        name=meta.get("capo_name", config.type),
        level=meta.get("capo_level", "table"),
        success=bool(result.success) and error is None,
        unexpected_count=int(details.get("unexpected_count") or 0),
        unexpected_index=index,
        error=error,
    )


def collect_outcomes(result: ExpectationSuiteValidationResult) -> list[ExpectationOutcome]:
    """One outcome per expectation, in suite order."""
    return [_outcome(r) for r in result.results]
