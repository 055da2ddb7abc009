"""Row checks: turn one source record into a clean pair, or the reason to quarantine it.

A row whose prompt, chosen or rejected is a message list (TRL's conversational format) keeps
its messages in the ``messages`` column (models/chat.py) beside the rendered texts; its chosen
and rejected must be assistant turns and its prompt must not end with one.
Text is normalised before ids are computed: Unicode NFC, CRLF and CR to LF, a byte-order
mark and surrounding whitespace removed. A text with no visible character (whitespace and
format characters such as U+200B only) is ``empty_text``; one holding a control character
(C0 but tab and line breaks, DEL, C1) is ``control_character`` (pipelines/data/contract.py).
Scores must be numbers, finite in float32 (training's precision: 1e308 is finite in float64
only), given for both answers or for neither. A column that the first parsed row lacks is a
whole-source error (a misnamed column), naming file, row and column; later rows that lack it
are quarantined.
A row whose language column is empty (null, blank) has its language identified, like a
source without a language column. A rejection carries the row's language where the source
gives one (fixed, or the column's value), for counting quarantine per language.
"""

from __future__ import annotations

import dataclasses
import math
import re
import unicodedata
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from capo.errors import CapoError
from capo_pipelines.data.contract import control_characters, is_visible
from capo_pipelines.data.langid import normalize_language
from capo_pipelines.data.messages import (
    is_messages,
    render_messages,
    split_implicit_prompt,
    text_messages,
)
from capo_pipelines.data.record import Record
from capo_pipelines.models.chat import conversation_json

__all__ = ["TEXT_FIELDS", "Rejection", "RowChecker"]

TEXT_FIELDS = ("prompt", "chosen", "rejected")
SCORE_FIELDS = ("score_chosen", "score_rejected")
# Columns only internal sources (benchmark, translation) may set.
INTERNAL_FIELDS = (
    "split",
    "label_flipped",
    "noise_kind",
    "gold",
    "task",
    "rejected_kind",
    "translated_from",
    "translation_confidence",  # q_t of CAPO's data confidence (the benchmark's translation noise)
)
_SURROGATE = re.compile("[\ud800-\udfff]")
_FLOAT32_MAX = float(np.finfo(np.float32).max)


@dataclass(frozen=True)
class Rejection:
    """Why a row is quarantined: a short code, the column (if any) and a sentence."""

    code: str
    reason: str
    field: str | None = None
    language: str | None = None  # given by the source (or identified later), else None


class _Reject(Exception):
    def __init__(self, code: str, reason: str, field: str | None = None) -> None:
        super().__init__(reason)
        self.rejection = Rejection(code, reason, field)


class RowChecker:
    """Checks the records of one source against the pair schema (see the module docstring)."""

    def __init__(
        self,
        where: str,
        columns: Mapping[str, str],
        languages: Sequence[str],
        language: str | None = None,
        max_row_chars: int = 20000,
        internal: bool = False,
    ) -> None:
        self.where, self.columns, self.languages = where, dict(columns), set(languages)
        self.language, self.max_row_chars, self.internal = language, max_row_chars, internal
        self.implicit_prompt = False
        self.language_column: str | None = None
        self._checked = False

    def col(self, name: str) -> str:
        """The source column that holds capo column ``name``."""
        return self.columns.get(name, name)

    def check(self, record: Record) -> dict[str, Any] | Rejection:
        """A pair dict (``language`` None when it must be identified) or a Rejection."""
        if record.data is None:
            reason = record.reason or "unreadable row"
            return Rejection(record.code or "unreadable", reason, language=self.language)
        if not self._checked:
            self._check_columns(record)
        try:
            return self._pair(record.data)
        except _Reject as rej:
            return dataclasses.replace(rej.rejection, language=self.given_language(record.data))

    def given_language(self, data: Mapping[str, Any]) -> str | None:
        """The row's language as the source gives it (normalised when valid), else None."""
        if self.language is not None or self.language_column is None:
            return self.language
        value = data.get(self.language_column)
        if _blank(value):
            return None
        try:
            return normalize_language(value)
        except ValueError:
            return raw_language(value)

    def _check_columns(self, record: Record) -> None:
        keys = set(record.data or {})
        chosen = (record.data or {}).get(self.col("chosen"))
        self.implicit_prompt = self.col("prompt") not in keys and is_messages(chosen)
        needed = [f for f in TEXT_FIELDS if not (f == "prompt" and self.implicit_prompt)]
        needed += [f for f in SCORE_FIELDS if f in self.columns]
        if self.language is None and ("language" in self.columns or self.col("language") in keys):
            self.language_column = self.col("language")
            needed.append("language")
        for name in needed:
            if self.col(name) not in keys:
                found = ", ".join(sorted(map(str, keys)))
                raise CapoError(
                    f"{self.where}: row {record.row}: missing column {self.col(name)!r}"
                    f" for {name} (found: {found}); map it under `columns`"
                )
        self._checked = True

    def _pair(self, data: Mapping[str, Any]) -> dict[str, Any]:
        (prompt, chosen, rejected), messages = self._texts(data)
        if len(prompt) + len(chosen) + len(rejected) > self.max_row_chars:
            size = len(prompt) + len(chosen) + len(rejected)
            raise _Reject(
                "row_too_large", f"{size} characters > max_row_chars {self.max_row_chars}"
            )
        if chosen == rejected:
            raise _Reject("chosen_equals_rejected", "chosen and rejected are identical", "rejected")
        pair: dict[str, Any] = {"prompt": prompt, "chosen": chosen, "rejected": rejected}
        pair["messages"] = messages
        pair.update(self._scores(data))
        pair["language"] = self._language(data)
        if self.internal:
            pair.update({k: data.get(k) for k in INTERNAL_FIELDS})
        return pair

    def _texts(self, data: Mapping[str, Any]) -> tuple[tuple[str, ...], str | None]:
        """The three texts, and the messages (JSON) when any of them is a message list."""
        values = {f: data.get(self.col(f), _MISSING) for f in TEXT_FIELDS}
        if self.implicit_prompt:
            if not (is_messages(values["chosen"]) and is_messages(values["rejected"])):
                raise _Reject("wrong_type", "implicit prompt needs message lists", "chosen")
            values["prompt"], values["chosen"], values["rejected"] = split_implicit_prompt(
                values["chosen"], values["rejected"]
            )
        texts = tuple(self._text(values[f], f) for f in TEXT_FIELDS)
        return texts, _conversation(values)

    def _text(self, value: Any, name: str) -> str:
        if value is _MISSING:
            raise _Reject("missing_field", f"column {self.col(name)!r} is missing", name)
        if is_messages(value):
            try:
                value = render_messages(value)
            except TypeError as err:
                raise _Reject("wrong_type", f"{name}: {err}", name) from None
        if value is None:
            raise _Reject("empty_text", f"{name} is null", name)
        if not isinstance(value, str):
            kind = type(value).__name__
            raise _Reject("wrong_type", f"{name} must be text or messages, got {kind}", name)
        if _SURROGATE.search(value):
            raise _Reject("invalid_utf8", f"{name} holds bytes that are not valid UTF-8", name)
        text = clean_text(value)
        if not text:
            raise _Reject("empty_text", f"{name} is empty or whitespace only", name)
        if not is_visible(text):
            reason = f"{name} has no visible character (whitespace and invisible ones only)"
            raise _Reject("empty_text", reason, name)
        if controls := control_characters(text):
            more = f" and {len(controls) - 5} more" if len(controls) > 5 else ""
            reason = (
                f"{name} holds control character {', '.join(controls[:5])}{more};"
                " only tab and line breaks are allowed"
            )
            raise _Reject("control_character", reason, name)
        return text

    def _scores(self, data: Mapping[str, Any]) -> dict[str, float | None]:
        scores = {f: _score(data.get(self.col(f)), f) for f in SCORE_FIELDS}
        if (scores["score_chosen"] is None) != (scores["score_rejected"] is None):
            missing = "score_chosen" if scores["score_chosen"] is None else "score_rejected"
            raise _Reject("incomplete_scores", "scores must be given for both or neither", missing)
        return scores

    def _language(self, data: Mapping[str, Any]) -> str | None:
        if self.language is not None:
            return self.language
        if self.language_column is None:
            return None  # identified later, in batches
        value = data.get(self.language_column)
        if _blank(value):
            return None  # identified later, as for a source without a language column
        try:
            code = normalize_language(value)
        except ValueError as err:
            raise _Reject("unknown_language", str(err), "language") from None
        if code not in self.languages:
            raise _Reject(
                "unknown_language", f"language {value!r} is not in ingest.languages", "language"
            )
        return code


_MISSING = object()


def _conversation(values: Mapping[str, Any]) -> str | None:
    """TRL's conversational form of checked values (pipelines/models/chat.py): a plain-text prompt
    becomes a user turn, a plain answer an assistant turn; contents are cleaned like the texts."""
    if not any(is_messages(v) for v in values.values()):
        return None
    parts = {}
    for name in TEXT_FIELDS:
        value = values[name]
        if not is_messages(value):
            value = [{"role": "user" if name == "prompt" else "assistant", "content": value}]
        parts[name] = [{**m, "content": clean_text(m["content"])} for m in text_messages(value)]
    _check_roles(parts)
    return conversation_json(**parts)


def _check_roles(parts: Mapping[str, Sequence[Mapping[str, str]]]) -> None:
    """TRL's conversational preference format: chosen and rejected are assistant turns, after
    a prompt that does not end with one (else the rendered prompt is not a prefix of the
    rendered prompt + answer, and training would score the wrong tokens)."""
    for name in ("chosen", "rejected"):
        for message in parts[name]:
            if message["role"] != "assistant":
                reason = f"{name} has a {message['role']!r} turn; answers must be assistant turns"
                raise _Reject("wrong_role", reason, name)
    if parts["prompt"][-1]["role"] == "assistant":
        reason = "prompt ends with an 'assistant' turn; the answers must follow another role"
        raise _Reject("wrong_role", reason, "prompt")


def _blank(value: Any) -> bool:
    """Null, NaN or whitespace only: no language given."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return True
    return isinstance(value, str) and not value.strip()


def raw_language(value: Any) -> str:
    """A given language value that is not a known code, as short valid text."""
    return str(value).strip()[:35].encode("utf-8", "backslashreplace").decode("utf-8")


def clean_text(text: str) -> str:
    """NFC, LF line ends, no byte-order mark, no surrounding whitespace."""
    text = unicodedata.normalize("NFC", text.replace("\r\n", "\n").replace("\r", "\n"))
    return text.replace("\ufeff", "").strip()


def _score(value: Any, name: str) -> float | None:
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    if isinstance(value, bool):
        raise _Reject("wrong_type", f"{name} must be a number, got bool", name)
    if isinstance(value, str):
        try:
            value = float(value)
        except ValueError:
            raise _Reject(
                "wrong_type", f"{name} must be a number, got {value[:40]!r}", name
            ) from None
    if not isinstance(value, int | float):
        raise _Reject("wrong_type", f"{name} must be a number, got {type(value).__name__}", name)
    try:
        number = float(value)
    except OverflowError:  # an integer beyond float64
        number = math.inf if value > 0 else -math.inf
    if math.isnan(number) or (math.isinf(number) and isinstance(value, float)):
        raise _Reject("nan_score", f"{name} is {value}", name)
    with np.errstate(over="ignore"):
        out_of_range = not np.isfinite(np.float32(number))
    if out_of_range:  # training computes in float32: 1e308 would become inf there
        shown = f"{number:.6g}" if math.isfinite(number) else f"{str(value)[:12]}..."
        reason = f"{name} is {shown}: training's float32 holds at most ±{_FLOAT32_MAX:.4g}"
        raise _Reject("score_out_of_range", reason, name)
    return number
