"""capo: Confidence-Aware Preference Optimization (CAPO) for multilingual alignment.

    from capo import capo_loss, CAPOConfig, CAPOTrainer

    losses, chosen_rewards, rejected_rewards = capo_loss(pc, pr, rc, rr, beta=0.1, gamma=1.0)
    trainer = CAPOTrainer(model, args=CAPOConfig(output_dir="out", gamma=1.0), train_dataset=ds,
                          processing_class=tokenizer)

The trainer (and with it TRL and transformers) is imported lazily, so `capo.loss` stays cheap.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from capo.errors import CapoError
from capo.loss import capo_loss, capo_weights

if TYPE_CHECKING:
    from capo.trainer import CAPOConfig, CAPOTrainer

__all__ = ["CAPOConfig", "CAPOTrainer", "CapoError", "capo_loss", "capo_weights"]
__version__ = "0.1.0"


def __getattr__(name: str) -> Any:
    if name in ("CAPOConfig", "CAPOTrainer"):
        from capo import trainer

        return getattr(trainer, name)
    raise AttributeError(f"module 'capo' has no attribute {name!r}")
