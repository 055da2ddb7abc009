"""Reference log-probs of chosen and rejected completions, batched with length bucketing.

    table = reference_logps(model, tokenizer, pairs, batch_size=32, max_length=256)

Each pair is tokenised exactly as TRL 1.16's DPOTrainer does (pipelines/models/chat.py): plain text
with EOS appended to both completions, a conversational pair's messages through the
tokenizer's chat template; the completion starts where the tokenised prompt and
prompt+completion diverge. Batches are collated by TRL's own ``DataCollatorForPreference``
with the same ``max_length`` truncation, so the sums equal DPOTrainer's precomputed reference
log-probs (tests/test_reference.py checks both formats against
``precompute_ref_log_probs=True``).
Pairs are sorted by length, batched and restored to their order, so batches carry little
padding.
"""

from __future__ import annotations

import logging
from typing import Any

import numpy as np
import pandas as pd
import torch
from trl.trainer.dpo_trainer import DataCollatorForPreference

from capo.errors import CapoError
from capo_pipelines.data.contract import MODEL_COLUMNS, REF_COLUMNS
from capo_pipelines.models.chat import pair_examples, tokenize_example
from capo_pipelines.models.progress import progress

__all__ = ["pair_logps", "reference_logps", "tokenize_pairs"]

logger = logging.getLogger(__name__)


def tokenize_pairs(tokenizer: Any, pairs: pd.DataFrame) -> list[dict[str, list[int]]]:
    """prompt_ids/chosen_ids/rejected_ids per pair, as TRL's DPOTrainer tokenises the pair's
    strings or, for a conversational pair, its messages through the chat template."""
    return [tokenize_example(tokenizer, e) for e in pair_examples(pairs)]


def _batches(lengths: list[int], batch_size: int, bucket: bool) -> list[list[int]]:
    """Index batches; with ``bucket`` the longest pairs come first so peak memory shows early."""
    order = list(range(len(lengths)))
    if bucket:
        order.sort(key=lambda i: -lengths[i])
    return [order[i : i + batch_size] for i in range(0, len(order), batch_size)]


@torch.no_grad()
def _batch_logps(model: Any, batch: dict[str, torch.Tensor]) -> torch.Tensor:
    """Summed completion log-probs, shape (2B,): chosen rows first, then rejected."""
    logits = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).logits
    labels = batch["input_ids"][:, 1:]
    mask = batch["completion_mask"][:, 1:].bool()
    logps = torch.log_softmax(logits[:, :-1].float(), dim=-1)
    token_logps = logps.gather(-1, labels.unsqueeze(-1)).squeeze(-1)
    return token_logps.masked_fill(~mask, 0.0).sum(dim=1)


def pair_logps(
    model: Any,
    examples: list[dict[str, list[int]]],
    *,
    pad_token_id: int,
    batch_size: int = 32,
    max_length: int | None = None,
    bucket: bool = True,
    desc: str = "log-probs",
) -> tuple[np.ndarray, np.ndarray]:
    """Summed completion log-probs of chosen and rejected under ``model``, in input order."""
    collate = DataCollatorForPreference(pad_token_id=pad_token_id, max_length=max_length)
    lengths = [
        len(e["prompt_ids"]) + max(len(e["chosen_ids"]), len(e["rejected_ids"])) for e in examples
    ]
    device = next(model.parameters()).device
    chosen = np.zeros(len(examples))
    rejected = np.zeros(len(examples))
    was_training = model.training
    model.eval()
    try:
        for idx in progress(_batches(lengths, batch_size, bucket), desc=desc):
            batch = collate([examples[i] for i in idx])
            batch = {k: v.to(device) for k, v in batch.items()}
            sums = _batch_logps(model, batch).double().cpu().numpy()
            chosen[idx], rejected[idx] = sums[: len(idx)], sums[len(idx) :]
    finally:
        model.train(was_training)
    return chosen, rejected


def reference_logps(
    model: Any,
    tokenizer: Any,
    pairs: pd.DataFrame,
    *,
    batch_size: int = 32,
    max_length: int | None = None,
    bucket: bool = True,
    desc: str = "reference log-probs",
) -> pd.DataFrame:
    """One row per pair, keyed by ``id``: the contract's REFERENCE_COLUMNS (log-probs, tokens)."""
    missing = set(MODEL_COLUMNS) - set(pairs.columns)
    if missing:
        raise CapoError(f"pairs lack columns {sorted(missing)}")
    if pairs["id"].duplicated().any():
        raise CapoError(f"duplicate pair id {pairs['id'][pairs['id'].duplicated()].iloc[0]!r}")
    examples = tokenize_pairs(tokenizer, pairs)
    chosen, rejected = pair_logps(
        model,
        examples,
        pad_token_id=tokenizer.pad_token_id,
        batch_size=batch_size,
        max_length=max_length,
        bucket=bucket,
        desc=desc,
    )
    cap = max_length or 1 << 30

    def kept(e: dict[str, list[int]], key: str) -> int:
        return max(0, min(len(e["prompt_ids"]) + len(e[key]), cap) - len(e["prompt_ids"]))

    return pd.DataFrame(
        {
            "id": pairs["id"].astype(str).to_numpy(),
            REF_COLUMNS[0]: chosen,
            REF_COLUMNS[1]: rejected,
            "prompt_tokens": [min(len(e["prompt_ids"]), cap) for e in examples],
            "chosen_tokens": [kept(e, "chosen_ids") for e in examples],
            "rejected_tokens": [kept(e, "rejected_ids") for e in examples],
        }
    )
