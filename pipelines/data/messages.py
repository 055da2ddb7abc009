"""Plain-text rendering of TRL's conversational format (lists of role/content messages).

No tokenizer exists at ingest time, so the text columns of a conversational pair are
rendered with one fixed rule, for ids, validation and language identification: a single
message renders as its content; several render as one `role: content` line each. The
messages themselves are kept too (the pair's ``messages`` column, pipelines/models/chat.py), and the
model's chat template renders them at training time, as TRL does. A conversational pair
without a prompt column (TRL's implicit prompt) has the messages that chosen and rejected
share as its prompt.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

__all__ = ["is_messages", "render_messages", "split_implicit_prompt", "text_messages"]


def is_messages(value: Any) -> bool:
    """True for a non-empty list of mappings with a string `role`."""
    return (
        isinstance(value, list)
        and bool(value)
        and all(isinstance(m, dict) and isinstance(m.get("role"), str) for m in value)
    )


def _content(message: dict[str, Any]) -> str:
    content = message.get("content")
    if isinstance(content, str):
        return content
    if isinstance(content, list):  # multimodal-style parts: keep the text parts
        parts = [p.get("text") for p in content if isinstance(p, dict)]
        if all(isinstance(p, str) for p in parts) and parts:
            return "\n".join(parts)
    raise TypeError(f"message content must be a string, got {type(content).__name__}")


def render_messages(messages: Sequence[dict[str, Any]]) -> str:
    """Render messages as plain text (see the module docstring). Raises TypeError if malformed."""
    if len(messages) == 1:
        return _content(messages[0])
    return "\n".join(f"{m['role']}: {_content(m)}" for m in messages)


def text_messages(messages: Sequence[dict[str, Any]]) -> list[dict[str, str]]:
    """Role and content text of each message (text parts joined). Raises TypeError if malformed."""
    return [{"role": m["role"], "content": _content(m)} for m in messages]


def split_implicit_prompt(
    chosen: Sequence[dict[str, Any]], rejected: Sequence[dict[str, Any]]
) -> tuple[list[dict[str, Any]], list[dict[str, Any]], list[dict[str, Any]]]:
    """(prompt, chosen, rejected): the shared leading messages become the prompt."""
    shared = 0
    while shared < min(len(chosen), len(rejected)) - 1 and chosen[shared] == rejected[shared]:
        shared += 1
    return list(chosen[:shared]), list(chosen[shared:]), list(rejected[shared:])
