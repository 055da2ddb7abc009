"""One rendering of a pair for every stage: plain text, or messages through the chat template.

    examples = pair_examples(pairs)              # TRL examples: strings or message lists
    ids = tokenize_example(tokenizer, examples[0])  # prompt_ids, chosen_ids, rejected_ids
    columns = trl_columns(pairs)                 # a TRL Dataset's prompt/chosen/rejected

A pair is conversational when its ``messages`` column holds JSON
``{"prompt": [...], "chosen": [...], "rejected": [...]}`` (lists of ``{"role", "content"}``
messages, TRL's conversational format); a null ``messages`` means plain text. The
``prompt``/``chosen``/``rejected`` columns always hold plain text (data/messages.py renders
it), which ids, validation and language identification use. SFT demonstrations use
``{"prompt": [...], "completion": [...]}`` the same way.

Tokenisation is TRL 1.16's DPOTrainer ``_prepare_dataset``, for both forms: plain text gets
EOS appended to each completion and ``tokenizer(text=...)``; messages go through
``apply_chat_template(..., tokenize=True)`` (the prompt with the generation prompt, the
template supplies each turn's end token); the completion starts where the tokenised prompt
and prompt+completion diverge. Reference log-probs, pair weights, evaluation and generation
use these functions; SFT and training hand the same columns to TRL, which does the same.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

import pandas as pd

from capo.errors import CapoError

__all__ = [
    "MESSAGES",
    "MIXED_FORMATS",
    "conversation_json",
    "is_conversational",
    "pair_examples",
    "prompt_ids",
    "prompts",
    "sft_columns",
    "single_turn",
    "tokenize_example",
    "trl_columns",
]

MESSAGES = "messages"
MIXED_FORMATS = (
    "{where}: pairs mix plain text and conversations (messages); TRL trains on one format:"
    " ingest (ingest.chat_format) makes them one; re-run it"
)

Messages = list[dict[str, str]]


def conversation_json(**parts: Sequence[dict[str, Any]]) -> str:
    """The ``messages`` value of a pair (or demonstration): role and content of each message."""
    clean = {k: [{"role": m["role"], "content": m["content"]} for m in v] for k, v in parts.items()}
    return json.dumps(clean, ensure_ascii=False)


def single_turn(prompt: str, **answers: str) -> str:
    """``messages`` of a plain-text pair: one user turn, one assistant turn per answer."""
    turns = {k: [{"role": "assistant", "content": v}] for k, v in answers.items()}
    return conversation_json(prompt=[{"role": "user", "content": prompt}], **turns)


def _conversations(frame: pd.DataFrame) -> list[dict[str, Messages] | None]:
    if MESSAGES not in frame.columns:
        return [None] * len(frame)
    return [json.loads(v) if isinstance(v, str) and v else None for v in frame[MESSAGES]]


def is_conversational(frame: pd.DataFrame, where: str = "pairs") -> bool:
    """True when every row is a conversation, False when none is; a mix is a CapoError."""
    found = {c is not None for c in _conversations(frame)}
    if len(found) > 1:
        raise CapoError(MIXED_FORMATS.format(where=where))
    return found == {True}


def pair_examples(pairs: pd.DataFrame) -> list[dict[str, Any]]:
    """Per pair, TRL's example: prompt/chosen/rejected as message lists or as strings."""
    keys = ("prompt", "chosen", "rejected")
    texts = zip(*(pairs[k].astype(str) for k in keys), strict=True)
    return [
        conv if conv is not None else dict(zip(keys, text, strict=True))
        for conv, text in zip(_conversations(pairs), texts, strict=True)
    ]


def trl_columns(pairs: pd.DataFrame, where: str = "pairs") -> dict[str, list[Any]]:
    """prompt/chosen/rejected columns for a TRL Dataset (one format for all rows)."""
    is_conversational(pairs, where)
    examples = pair_examples(pairs)
    return {k: [e[k] for e in examples] for k in ("prompt", "chosen", "rejected")}


def sft_columns(examples: pd.DataFrame, where: str = "SFT examples") -> dict[str, list[Any]]:
    """prompt/completion columns for TRL's SFTTrainer (prompt-completion format)."""
    if is_conversational(examples, where):
        convs = _conversations(examples)
        return {k: [c[k] for c in convs] for k in ("prompt", "completion")}  # type: ignore[index]
    return {k: examples[k].astype(str).tolist() for k in ("prompt", "completion")}


def prompts(frame: pd.DataFrame) -> list[str | Messages]:
    """The prompt of each row, as generation takes it: messages or text."""
    return [
        conv["prompt"] if conv is not None else text
        for conv, text in zip(_conversations(frame), frame["prompt"].astype(str), strict=True)
    ]


def _ids(tokenizer: Any, value: str | Messages, generation_prompt: bool = False) -> list[int]:
    if isinstance(value, list):
        kwargs = {"add_generation_prompt": True} if generation_prompt else {}
        out = tokenizer.apply_chat_template(value, tokenize=True, return_dict=True, **kwargs)
        return list(out["input_ids"])
    return tokenizer(text=value)["input_ids"]


def prompt_ids(tokenizer: Any, prompt: str | Messages) -> list[int]:
    """Token ids of a prompt as TRL tokenises it: text, or messages + generation prompt."""
    return _ids(tokenizer, prompt, generation_prompt=True)


def _common_prefix(a: list[int], b: list[int]) -> int:
    n = 0
    for x, y in zip(a, b, strict=False):
        if x != y:
            break
        n += 1
    return n


def tokenize_example(tokenizer: Any, example: dict[str, Any]) -> dict[str, list[int]]:
    """prompt_ids/chosen_ids/rejected_ids of one example, as TRL 1.16's DPOTrainer makes them."""
    prompt, chosen, rejected = example["prompt"], example["chosen"], example["rejected"]
    if not isinstance(prompt, list):  # plain text: EOS closes each completion
        eos = tokenizer.eos_token
        chosen = chosen if chosen.endswith(eos) else chosen + eos
        rejected = rejected if rejected.endswith(eos) else rejected + eos
    ids = prompt_ids(tokenizer, prompt)
    chosen_full = _ids(tokenizer, prompt + chosen)
    rejected_full = _ids(tokenizer, prompt + rejected)
    n = min(_common_prefix(ids, chosen_full), _common_prefix(ids, rejected_full))
    return {"prompt_ids": ids[:n], "chosen_ids": chosen_full[n:], "rejected_ids": rejected_full[n:]}
