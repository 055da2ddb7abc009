"""The dataset columns CAPOTrainer reads beside TRL's own (pipelines/data/contract.py)."""

SCORE_COLUMNS = ("score_chosen", "score_rejected")  # data confidence q_s (capo/loss.py)
CONFIDENCE_COLUMN = "translation_confidence"  # q_t (capo/loss.py); None: not translated
REF_COLUMNS = ("ref_chosen_logps", "ref_rejected_logps")  # TRL's names for them too
