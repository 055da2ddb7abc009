"""CAPOConfig: TRL's DPOConfig plus CAPO's settings, checked by their one definition.

    args = CAPOConfig(output_dir="out", loss_type="capo", gamma=1.0, kappa=0.5, direction="up")
    args = CAPOConfig.from_settings(LossSettings(gamma=1.0), output_dir="out")  # the object whole

The CAPO fields and their defaults are LossSettings' (capo/settings.py); so are the
ranges that ``__post_init__`` applies, with TRL's beta and label_smoothing among them.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

from trl import DPOConfig

from capo.settings import SETTING_NAMES, LossSettings

__all__ = ["CAPOConfig"]

# Loss types whose TRL branch calls F.logsigmoid: they cannot run beside "capo" in one step.
_LOGSIGMOID_TYPES = {"sigmoid", "exo_pair", "nca_pair", "robust", "bco_pair", "aot"}
_LOGSIGMOID_TYPES |= {"aot_unpaired", "discopop", "sigmoid_norm"}


@dataclass
class CAPOConfig(DPOConfig):
    """DPOConfig plus CAPO's parameters; ``loss_type="capo"`` next to every TRL loss type.

    Defaults differ from TRL's where TRL's would surprise on a CPU: no bf16, no gradient
    checkpointing unless asked.
    """

    loss_type: list[str] = field(
        default_factory=lambda: ["capo"],
        metadata={"help": "'capo' (this project) or any TRL DPO loss type; a list combines."},
    )
    gamma: float = field(
        default=LossSettings.gamma,
        metadata={"help": "CAPO: exponent of the model-confidence factor (2c)^gamma; 0 = DPO."},
    )
    tau: float = field(
        default=LossSettings.tau,
        metadata={"help": "CAPO: temperature of the confidence c = sigmoid(m/tau)."},
    )
    kappa: float = field(
        default=LossSettings.kappa,
        metadata={"help": "CAPO: slope of the data confidence q = sigmoid(kappa*(s_w - s_l))."},
    )
    direction: str = field(
        default=LossSettings.direction,
        metadata={"help": "CAPO: 'down' = (2c)^gamma, 'up' = focal-style (2(1-c))^gamma."},
    )
    use_scores: bool = field(
        default=LossSettings.use_scores,
        metadata={"help": "CAPO: data confidence from score_chosen/score_rejected columns."},
    )
    use_translation_confidence: bool = field(
        default=LossSettings.use_translation_confidence,
        metadata={"help": "CAPO: multiply q by a translation_confidence column where present."},
    )
    bf16: bool | None = field(default=False, metadata={"help": "bf16 mixed precision."})
    activation_checkpointing: bool | None = field(  # transformers 5 name; the old one warns
        default=False, metadata={"help": "Trade compute for memory (gradient checkpointing)."}
    )

    def __post_init__(self) -> None:
        types = [self.loss_type] if isinstance(self.loss_type, str) else list(self.loss_type)
        if "capo" in types:
            clash = sorted(set(types) & _LOGSIGMOID_TYPES)
            if clash:
                raise ValueError(f"loss_type 'capo' cannot be combined with {clash}")
            self.settings  # noqa: B018 -- LossSettings checks every field's range
            if self.f_divergence_type != "reverse_kl":
                raise ValueError("loss_type 'capo' needs f_divergence_type='reverse_kl'")
        super().__post_init__()

    @classmethod
    def from_settings(cls, settings: LossSettings, **kwargs: Any) -> CAPOConfig:
        """A config with every field of ``settings`` (beta and label_smoothing included) and
        TRL's training arguments ``kwargs``."""
        return cls(**dataclasses.asdict(settings), **kwargs)

    @property
    def settings(self) -> LossSettings:
        """This config's loss settings, as one checked object (capo/settings.py)."""
        return LossSettings(**{name: getattr(self, name) for name in SETTING_NAMES})

    @property
    def uses_capo(self) -> bool:
        return "capo" in self.loss_type
