"""capo: Confidence-Aware Preference Optimization (CAPO) for multilingual alignment.

    from capo import capo_loss, CAPOConfig, CAPOTrainer

    losses, chosen_rewards, rejected_rewards = capo_loss(pc, pr, rc, rr, beta=0.1, gamma=1.0)
    trainer = CAPOTrainer(model, args=CAPOConfig(output_dir="out", gamma=1.0), train_dataset=ds,
                          processing_class=tokenizer)

These come from capo/core, the algorithm, which needs torch, transformers and trl only
(`pip install capo`); everything else under capo/ is the pipeline (`pip install
"capo[pipeline]"`, docs/design.md §4). They are imported lazily, on first use, so stages that
need neither (ingest, validate, compare) do not load torch.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from capo.errors import CapoError

if TYPE_CHECKING:
    from capo.core.config import CAPOConfig
    from capo.core.loss import capo_loss, capo_weights
    from capo.core.settings import LossSettings
    from capo.core.trainer import CAPOTrainer

__all__ = ["CAPOConfig", "CAPOTrainer", "CapoError", "LossSettings", "capo_loss", "capo_weights"]
__version__ = "0.1.0"


def __getattr__(name: str) -> Any:
    if name in ("capo_loss", "capo_weights"):
        from capo.core import loss

        return getattr(loss, name)
    if name == "CAPOConfig":
        from capo.core import config

        return config.CAPOConfig
    if name == "CAPOTrainer":
        from capo.core import trainer

        return trainer.CAPOTrainer
    if name == "LossSettings":
        from capo.core import settings

        return settings.LossSettings
    raise AttributeError(f"module 'capo' has no attribute {name!r}")
