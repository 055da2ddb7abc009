"""CAPOConfig: TRL's DPOConfig plus CAPO's settings, checked by their one definition.

    args = CAPOConfig(output_dir="out", loss_type="capo", gamma=1.0, kappa=0.5, direction="up")
    args = CAPOConfig.from_settings(LossSettings(gamma=1.0), output_dir="out")  # the object whole
    args = CAPOConfig(output_dir="out", loss_type="odpo", offset_scale=0.5)  # a baseline

``loss_type`` takes capo's own losses (CORE_LOSSES: "capo", and the baselines "cdpo" and
"odpo", capo/loss.py) beside TRL's. The fields and their defaults are LossSettings'
(capo/settings.py); so are the ranges that ``__post_init__`` applies, with TRL's beta and
label_smoothing among them.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

from trl import DPOConfig

from capo.settings import CORE_LOSSES, SETTING_NAMES, LossSettings

__all__ = ["CAPOConfig"]

# Loss types whose TRL branch calls F.logsigmoid: they cannot run beside a core loss ("capo",
# "cdpo", "odpo") in one step.
_LOGSIGMOID_TYPES = {"sigmoid", "exo_pair", "nca_pair", "robust", "bco_pair", "aot"}
_LOGSIGMOID_TYPES |= {"aot_unpaired", "discopop", "sigmoid_norm"}


@dataclass
class CAPOConfig(DPOConfig):
    """DPOConfig plus the loss settings; ``loss_type`` "capo", "cdpo" or "odpo" (capo's own,
    one at a time) next to every TRL loss type.

    Every training argument keeps DPOConfig's default (gradient checkpointing on, bf16 unless
    fp16), so swapping DPOConfig for CAPOConfig changes nothing else. On a CPU pass
    ``bf16=False, gradient_checkpointing=False`` (the workflow does).
    """

    loss_type: list[str] = field(
        default_factory=lambda: ["capo"],
        metadata={
            "help": "'capo', 'cdpo', 'odpo' (this project) or any TRL DPO loss type; a list "
            "combines."
        },
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
    offset_scale: float = field(
        default=LossSettings.offset_scale,
        metadata={"help": "ODPO: offset delta = offset_scale * (s_w - s_l); 0 = DPO."},
    )
    min_score_margin: float | None = field(
        default=LossSettings.min_score_margin,
        metadata={
            "help": "Data selection (filtered DPO, the workflow): drop scored pairs whose "
            "s_w - s_l is below this; None = off. The trainer does not read it."
        },
    )
    min_translation_confidence: float = field(
        default=LossSettings.min_translation_confidence,
        metadata={
            "help": "Data selection (filtered DPO, the workflow): drop translated pairs below "
            "this translation_confidence; 0 = off. The trainer does not read it."
        },
    )

    def __post_init__(self) -> None:
        types = [self.loss_type] if isinstance(self.loss_type, str) else list(self.loss_type)
        core = [t for t in types if t in CORE_LOSSES]
        if len(core) > 1:  # each runs as TRL's sigmoid branch: one logsigmoid call per step
            raise ValueError(f"loss_type can hold one of {sorted(CORE_LOSSES)}, got {core}")
        if core:
            clash = sorted(set(types) & _LOGSIGMOID_TYPES)
            if clash:
                raise ValueError(f"loss_type {core[0]!r} cannot be combined with {clash}")
            self.settings  # noqa: B018 -- LossSettings checks every field's range
            if self.f_divergence_type != "reverse_kl":
                raise ValueError(f"loss_type {core[0]!r} needs f_divergence_type='reverse_kl'")
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

    @property
    def core_loss(self) -> str | None:
        """The loss of capo's own in ``loss_type`` ("capo", "cdpo" or "odpo"), or None."""
        return next((t for t in self.loss_type if t in CORE_LOSSES), None)
