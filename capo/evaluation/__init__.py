"""Per-language evaluation: pure metrics here; model-facing code in evaluate and generation.

    from capo.evaluation import reward_accuracy, summarize, noise_weights
    from capo.evaluation.evaluate import policy_rewards, generation_frame, metrics_document

    rewards = policy_rewards(model, tokenizer, test_pairs, reference_table, beta=0.1)
    answers = generation_frame(model, tokenizer, test_pairs, languages=("en", "de", "zh"))
    doc = metrics_document(rewards, answers)   # {"overall": {...}, "per_language": {...}}

The package itself imports only numpy and pandas (the compare stage needs no torch).
"""

from capo.evaluation.metrics import (
    answer_matches,
    first_line,
    implicit_rewards,
    normalize_answer,
    relative_change,
    reward_accuracy,
    reward_margin,
    summarize,
)
from capo.evaluation.noise import noise_weights

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
