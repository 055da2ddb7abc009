"""Per-language evaluation: pure metrics here; model-facing code in evaluate and generation.

    from capo_pipelines.evaluation import reward_accuracy, summarize, noise_weights
    from capo_pipelines.evaluation.evaluator import (
        policy_rewards, generation_frame, metrics_document,
    )

    rewards = policy_rewards(model, tokenizer, test_pairs, reference_table, beta=0.1)
    answers = generation_frame(model, tokenizer, test_pairs, languages=("en", "de", "zh"))
    doc = metrics_document(rewards, answers)   # {"overall": {...}, "per_language": {...}}

The package itself imports only numpy and pandas (the compare stage needs no torch);
``implicit_rewards`` (capo/loss.py's formula on arrays) is imported on first use.
"""

from typing import TYPE_CHECKING, Any

from capo_pipelines.evaluation.metrics import (
    answer_matches,
    first_line,
    normalize_answer,
    relative_change,
    reward_accuracy,
    reward_margin,
    summarize,
)
from capo_pipelines.evaluation.noise import noise_weights

if TYPE_CHECKING:
    from capo_pipelines.evaluation.evaluator import implicit_rewards

__all__ = [
    "answer_matches",
    "first_line",
    "implicit_rewards",
    "noise_weights",
    "normalize_answer",
    "relative_change",
    "reward_accuracy",
    "reward_margin",
    "summarize",
]


def __getattr__(name: str) -> Any:
    if name == "implicit_rewards":  # torch: only when asked for
        from capo_pipelines.evaluation import evaluator

        return evaluator.implicit_rewards
    raise AttributeError(f"module 'capo_pipelines.evaluation' has no attribute {name!r}")
