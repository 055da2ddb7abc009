"""Evaluate one trained policy on held-out pairs: rewards against the reference, generation.

    per_pair = reward_frame(pairs_with_ref, policy_chosen_logps, policy_rejected_logps, beta)
    rewards = policy_rewards(model, tokenizer, pairs, reference, beta=0.1, batch_size=32)
    answers = generation_frame(model, tokenizer, pairs, languages=("en", "de"))
    doc = metrics_document(rewards, answers, reference_answers, gold_fidelity)

    # the same with params.yaml's settings (evaluate:, ingest.languages, policy.max_length)
    rewards = rewards_of(model, tokenizer, pairs, reference, beta, params)
    answers = generation_of(model, tokenizer, pairs, params)
    doc = with_health(metrics_document(rewards, answers), params)   # + the "health" block

Policy log-probs come from models/logps.py's pair_logps over its tokenize_pairs, the
function and tokenisation that produced the reference log-probs, so r = 0 exactly when the
policy is the reference.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import pandas as pd

from capo import loss
from capo_pipelines.data.contract import join_reference, reference_arrays
from capo_pipelines.evaluation.generation import greedy_answers, language_fidelity, score_answers
from capo_pipelines.evaluation.metrics import generation_health, summarize
from capo_pipelines.models.chat import prompts
from capo_pipelines.params import Params

__all__ = [
    "GENERATION_METRICS",
    "REWARD_METRICS",
    "generation_frame",
    "generation_of",
    "gold_fidelity_frame",
    "implicit_rewards",
    "metrics_document",
    "plot_rows",
    "policy_rewards",
    "reward_frame",
    "rewards_of",
    "verifiable",
    "with_health",
]

logger = logging.getLogger(__name__)

REWARD_METRICS = ("reward_accuracy", "reward_margin")
GENERATION_METRICS = ("generation_accuracy", "language_fidelity", "empty_rate")
LogpsFn = Callable[[Any, Any, pd.DataFrame], tuple[np.ndarray, np.ndarray]]


def implicit_rewards(
    policy_chosen_logps: Any,
    policy_rejected_logps: Any,
    ref_chosen_logps: Any,
    ref_rejected_logps: Any,
    beta: float,
) -> tuple[np.ndarray, np.ndarray]:
    """capo.loss.implicit_rewards on float64 arrays (any array-likes), each of shape (N,)."""
    logps = (policy_chosen_logps, policy_rejected_logps, ref_chosen_logps, ref_rejected_logps)
    return loss.implicit_rewards(*(np.asarray(x, dtype=np.float64) for x in logps), beta=beta)


def reward_frame(
    pairs: pd.DataFrame, policy_chosen: np.ndarray, policy_rejected: np.ndarray, beta: float
) -> pd.DataFrame:
    """Per pair: id, language, chosen/rejected reward, reward_accuracy (0/1), reward_margin."""
    r_w, r_l = implicit_rewards(policy_chosen, policy_rejected, *reference_arrays(pairs), beta)
    return pd.DataFrame(
        {
            "id": pairs["id"].astype(str).to_numpy(),
            "language": pairs["language"].astype(str).to_numpy(),
            "chosen_reward": r_w,
            "rejected_reward": r_l,
            "reward_accuracy": (r_w > r_l).astype(float),
            "reward_margin": r_w - r_l,
        }
    )


def default_logps(
    model: Any, tokenizer: Any, pairs: pd.DataFrame, *, batch_size: int, max_length: int | None
) -> tuple[np.ndarray, np.ndarray]:
    """Summed completion log-probs with the reference stage's tokenisation and collator."""
    from capo_pipelines.models.logps import pair_logps, tokenize_pairs

    return pair_logps(
        model,
        tokenize_pairs(tokenizer, pairs),
        pad_token_id=tokenizer.pad_token_id,
        batch_size=batch_size,
        max_length=max_length,
        desc="policy log-probs",
    )


def policy_rewards(
    model: Any,
    tokenizer: Any,
    pairs: pd.DataFrame,
    reference: pd.DataFrame,
    *,
    beta: float,
    batch_size: int = 32,
    max_length: int | None = None,
    logps: LogpsFn | None = None,
) -> pd.DataFrame:
    """reward_frame of ``model`` on ``pairs``; ``logps`` replaces the log-prob function."""
    joined = join_reference(pairs, reference)
    if logps is None:
        chosen, rejected = default_logps(
            model, tokenizer, joined, batch_size=batch_size, max_length=max_length
        )
    else:
        chosen, rejected = logps(model, tokenizer, joined)
    return reward_frame(joined, chosen, rejected, beta)


def verifiable(pairs: pd.DataFrame) -> pd.DataFrame:
    """Pairs with a non-empty gold answer (generation is scored only on these)."""
    if "gold" not in pairs.columns:
        return pairs.iloc[0:0]
    gold = pairs["gold"]
    return pairs[gold.notna() & (gold.astype(str).str.strip() != "")].reset_index(drop=True)


def generation_frame(
    model: Any,
    tokenizer: Any,
    pairs: pd.DataFrame,
    *,
    languages: Sequence[str],
    batch_size: int = 32,
    max_new_tokens: int = 24,
    max_length: int | None = None,
    desc: str = "generation",
) -> pd.DataFrame:
    """Per verifiable pair: id, language, answer, generation_accuracy, language_fidelity and
    empty_rate (1.0 for an empty answer: the collapse to EOS that DPO can cause)."""
    rows = verifiable(pairs)
    answers = greedy_answers(
        model,
        tokenizer,
        prompts(rows),  # text, or a conversation's messages
        batch_size=batch_size,
        max_new_tokens=max_new_tokens,
        max_length=max_length,
        desc=desc,
    )
    scores = score_answers(answers, rows["gold"].tolist(), rows["language"].tolist(), languages)
    scores["empty_rate"] = np.array([not a.strip() for a in answers], dtype=float)
    scores.insert(0, "language", rows["language"].astype(str).to_numpy())
    scores.insert(0, "id", rows["id"].astype(str).to_numpy())
    return scores


def rewards_of(
    model: Any, tokenizer: Any, pairs: pd.DataFrame, reference: pd.DataFrame, beta: float,
    params: Params,
) -> pd.DataFrame:  # fmt: skip
    """policy_rewards with params.yaml's evaluate.batch_size and policy.max_length."""
    return policy_rewards(
        model,
        tokenizer,
        pairs,
        reference,
        beta=beta,
        batch_size=params.evaluate.batch_size,
        max_length=params.policy.max_length,
    )


def generation_of(
    model: Any, tokenizer: Any, pairs: pd.DataFrame, params: Params, desc: str = "generation"
) -> pd.DataFrame:
    """generation_frame with params.yaml's languages, evaluate: and policy.max_length."""
    return generation_frame(
        model,
        tokenizer,
        pairs,
        languages=params.ingest.languages,
        batch_size=params.evaluate.batch_size,
        max_new_tokens=params.evaluate.max_new_tokens,
        max_length=params.policy.max_length,
        desc=desc,
    )


def with_health(doc: dict[str, Any], params: Params) -> dict[str, Any]:
    """``doc`` with its ``health`` block under params.yaml's evaluate: limits."""
    doc["health"] = generation_health(
        doc,
        max_empty_rate=params.evaluate.max_empty_rate,
        max_drop=params.evaluate.max_generation_drop,
    )
    return doc


def gold_fidelity_frame(pairs: pd.DataFrame, languages: Sequence[str]) -> pd.DataFrame:
    """Language fidelity of the gold answers themselves: the detector's ceiling per language."""
    rows = verifiable(pairs)
    ok = language_fidelity(rows["gold"].astype(str).tolist(), rows["language"].tolist(), languages)
    return pd.DataFrame(
        {
            "id": rows["id"].astype(str).to_numpy(),
            "language": rows["language"].astype(str).to_numpy(),
            "gold_language_fidelity": ok.astype(float),
        }
    )


def _generation_summary(frames: list[pd.DataFrame]) -> dict[str, Any]:
    """Summary of one or more per-verifiable-pair frames merged on id."""
    merged = frames[0]
    for frame in frames[1:]:
        extra = frame.drop(columns=[c for c in ("language", "answer") if c in frame.columns])
        merged = merged.merge(extra, on="id", how="outer")
    columns = [c for c in merged.columns if c not in ("id", "language", "answer")]
    summary = summarize(merged, columns)
    for part in (summary["overall"], *summary["per_language"].values()):
        part["verifiable"] = part.pop("pairs")
    return summary


def metrics_document(
    rewards: pd.DataFrame,
    answers: pd.DataFrame | None,
    reference_answers: pd.DataFrame | None = None,
    gold_fidelity: pd.DataFrame | None = None,
) -> dict[str, Any]:
    """The metrics JSON: {"overall": {...}, "per_language": {lang: {...}}, "reference": {...}}.

    Reward metrics average over all pairs, generation metrics over verifiable pairs (counted
    as ``verifiable``); ``reference`` holds the reference policy's generation scores and the
    gold answers' language fidelity, for context.
    """
    frame = rewards[["id", "language", *REWARD_METRICS]].copy()
    columns = list(REWARD_METRICS)
    if answers is not None:
        frame = frame.merge(answers[["id", *GENERATION_METRICS]], on="id", how="left")
        frame["verifiable"] = frame["id"].isin(answers["id"]).astype(int)
        columns += list(GENERATION_METRICS)
    doc = summarize(frame, columns, sums=["verifiable"] if answers is not None else [])
    context = [f for f in (reference_answers, gold_fidelity) if f is not None and len(f)]
    if context:
        doc["reference"] = _generation_summary(context)
    return doc


def plot_rows(doc: dict[str, Any]) -> list[dict[str, Any]]:
    """One row per language (and "all") for DVC plots: metrics of the model and its reference."""
    reference = doc.get("reference", {})
    rows = []
    groups = [*sorted(doc["per_language"].items()), ("all", doc["overall"])]
    for lang, values in groups:
        ref = (
            reference.get("overall", {})
            if lang == "all"
            else reference.get("per_language", {}).get(lang, {})
        )
        row: dict[str, Any] = {"language": lang}
        row.update({k: values.get(k) for k in (*REWARD_METRICS, *GENERATION_METRICS)})
        row["reference_generation_accuracy"] = ref.get("generation_accuracy")
        rows.append(row)
    return rows
