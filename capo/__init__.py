"""capo: Confidence-Aware Preference Optimization (CAPO) for multilingual alignment.

    from capo import capo_loss, CAPOConfig, CAPOTrainer

    losses, chosen_rewards, rejected_rewards = capo_loss(pc, pr, rc, rr, beta=0.1, gamma=1.0)
    trainer = CAPOTrainer(model, args=CAPOConfig(output_dir="out", gamma=1.0), train_dataset=ds,
                          processing_class=tokenizer)

This package is the core, what `pip install capo` gives a TRL user: the loss settings
(settings.py), the loss (loss.py), the columns the trainer reads (columns.py), CAPOConfig
(config.py), CAPOTrainer (trainer.py) and every place capo touches TRL (trl_adapter.py). It
needs torch, transformers, trl and peft only. The DVC pipeline, the Prefect flows and the
noise study are the workflow in the repository's pipelines/ folder (import name
``capo_pipelines``, docs/design.md §4). The names below load lazily, on first use, so a
stage that needs none of them (ingest, validate, compare) does not load torch.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from capo.errors import CapoError

if TYPE_CHECKING:
    from capo.config import CAPOConfig
    from capo.loss import capo_loss, capo_weights
    from capo.settings import LossSettings
    from capo.trainer import CAPOTrainer

__all__ = ["CAPOConfig", "CAPOTrainer", "CapoError", "LossSettings", "capo_loss", "capo_weights"]
__version__ = "0.1.0"

_LAZY = {
    "capo_loss": "capo.loss",
    "capo_weights": "capo.loss",
    "CAPOConfig": "capo.config",
    "CAPOTrainer": "capo.trainer",
    "LossSettings": "capo.settings",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'capo' has no attribute {name!r}")
