"""The dataset columns CAPOTrainer reads beside TRL's own (the data contract, capo/pairs.py)."""

SCORE_COLUMNS = ("score_chosen", "score_rejected")  # data confidence q_s (capo/core/loss.py)
CONFIDENCE_COLUMN = "translation_confidence"  # q_t (capo/core/loss.py); None: not translated
REF_COLUMNS = ("ref_chosen_logps", "ref_rejected_logps")  # TRL's names for them too
