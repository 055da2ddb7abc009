"""capo: Confidence-Aware Preference Optimization (CAPO) for multilingual alignment.

    from capo import capo_loss, CAPOConfig, CAPOTrainer

    losses, chosen_rewards, rejected_rewards = capo_loss(pc, pr, rc, rr, beta=0.1, gamma=1.0)
    trainer = CAPOTrainer(model, args=CAPOConfig(output_dir="out", gamma=1.0), train_dataset=ds,
                          processing_class=tokenizer)

The loss (torch) and the trainer (TRL, transformers) are imported lazily, on first use, so
stages that need neither (ingest, validate, compare) do not load torch, and their DVC deps
need not list capo/loss.py.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from capo.errors import CapoError

if TYPE_CHECKING:
    from capo.loss import capo_loss, capo_weights
    from capo.trainer import CAPOConfig, CAPOTrainer

__all__ = ["CAPOConfig", "CAPOTrainer", "CapoError", "capo_loss", "capo_weights"]
__version__ = "0.1.0"


def __getattr__(name: str) -> Any:
    if name in ("capo_loss", "capo_weights"):
        from capo import loss

        return getattr(loss, name)
    if name in ("CAPOConfig", "CAPOTrainer"):
        from capo import trainer

        return getattr(trainer, name)
    raise AttributeError(f"module 'capo' has no attribute {name!r}")
