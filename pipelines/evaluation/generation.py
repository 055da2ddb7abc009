"""Batched greedy answers after the prompt, and their accuracy and language fidelity.

    answers = greedy_answers(model, tokenizer, prompts, batch_size=32, max_new_tokens=24)
    scores = score_answers(answers, gold, languages, allowed=("en", "de", "zh"))

The prompt is encoded exactly as the policy, reference and train stages encode it
(models/chat.py): ``tokenizer(prompt)`` for text, the chat template with its generation prompt
for messages (models/chat.py prompts gives either per row); left-padded, decoded until EOS.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
import torch

from capo_pipelines.data.langid import CONFIDENT, faithful
from capo_pipelines.evaluation.metrics import answer_matches, first_line
from capo_pipelines.models.chat import prompt_ids
from capo_pipelines.models.progress import progress

__all__ = ["greedy_answers", "language_fidelity", "score_answers"]

logger = logging.getLogger(__name__)

Prompt = str | list[dict[str, str]]  # text, or messages (TRL's conversational format)


def _encode(tokenizer: Any, prompts: Sequence[Prompt], keep: int | None) -> list[list[int]]:
    """Token ids per prompt; with ``keep`` only the last ``keep`` ids (left truncation)."""
    ids = [prompt_ids(tokenizer, p) for p in prompts]
    return [x[-keep:] for x in ids] if keep else ids


def _left_pad(rows: list[list[int]], pad_id: int, device: torch.device) -> dict[str, Any]:
    width = max(len(r) for r in rows)
    ids = torch.full((len(rows), width), pad_id, dtype=torch.long)
    mask = torch.zeros((len(rows), width), dtype=torch.long)
    for i, row in enumerate(rows):
        ids[i, width - len(row) :] = torch.tensor(row, dtype=torch.long)
        mask[i, width - len(row) :] = 1
    return {"input_ids": ids.to(device), "attention_mask": mask.to(device)}


@torch.no_grad()
def greedy_answers(
    model: Any,
    tokenizer: Any,
    prompts: Sequence[Prompt],
    *,
    batch_size: int = 32,
    max_new_tokens: int = 24,
    max_length: int | None = None,
    desc: str = "generation",
) -> list[str]:
    """Greedy completions of ``prompts`` (special tokens dropped), in input order.

    Prompts are batched by length (little padding). With ``max_length`` a prompt keeps its
    last ``max_length - max_new_tokens`` tokens, so no sequence exceeds the model's limit.
    """
    keep = max(1, max_length - max_new_tokens) if max_length else None
    encoded = _encode(tokenizer, prompts, keep)
    order = sorted(range(len(encoded)), key=lambda i: -len(encoded[i]))
    device = next(model.parameters()).device
    pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0
    answers = [""] * len(encoded)
    was_training = model.training
    model.eval()
    try:
        for start in progress(range(0, len(order), batch_size), desc=desc):
            idx = order[start : start + batch_size]
            batch = _left_pad([encoded[i] for i in idx], pad_id, device)
            out = model.generate(
                **batch,
                do_sample=False,
                max_new_tokens=max_new_tokens,
                pad_token_id=pad_id,
                eos_token_id=tokenizer.eos_token_id,
            )
            texts = tokenizer.batch_decode(
                out[:, batch["input_ids"].shape[1] :], skip_special_tokens=True
            )
            for i, text in zip(idx, texts, strict=True):
                answers[i] = text
    finally:
        model.train(was_training)
    return answers


def language_fidelity(
    answers: Sequence[str],
    languages: Sequence[str],
    allowed: Sequence[str],
    *,
    confidence: float = CONFIDENT,
) -> np.ndarray:
    """Boolean per answer: its first line is in its row's language (data/langid.py faithful).

    Faithful: non-empty, at least half its letters in the language's script, and lingua
    gives no other configured language >= ``confidence`` (0.9: the lowest that accepts
    >= 0.97 of every kind of gold answer in every language, benchmarks/RESULTS.md). Empty
    answers never are; kanji-only answers count for both zh and ja.
    """
    texts = [first_line(a) for a in answers]
    pool = sorted(set(allowed) | set(languages))
    return faithful(texts, list(languages), pool, confidence=confidence)


def score_answers(
    answers: Sequence[str], gold: Sequence[str], languages: Sequence[str], allowed: Sequence[str]
) -> pd.DataFrame:
    """Per answer: ``generation_accuracy`` (normalised match of its first line to the gold
    answer) and ``language_fidelity``, as floats 0/1."""
    correct = [answer_matches(first_line(a), g) for a, g in zip(answers, gold, strict=True)]
    return pd.DataFrame(
        {
            "answer": [first_line(a) for a in answers],
            "generation_accuracy": np.asarray(correct, dtype=float),
            "language_fidelity": language_fidelity(answers, languages, allowed).astype(float),
        }
    )
