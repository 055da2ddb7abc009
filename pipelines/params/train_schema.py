"""`loss:`, `policy:`, `reference:` and `train:` sections of params.yaml."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Annotated, Any

from capo.settings import SETTING_NAMES, LossSettings, check_setting
from capo_pipelines.params.parse import (
    NonNegative,
    NonNegativeInt,
    ParamsError,
    Positive,
    PositiveInt,
    Range,
    Rate,
)

__all__ = [
    "BUILTIN_MODEL",
    "KNOWN_LOSSES",
    "LR_SCHEDULERS",
    "SELECTION_LOSSES",
    "LoraParams",
    "LossParams",
    "PolicyParams",
    "ReferenceParams",
    "TrainParams",
    "check_loss_setting",
]


# `loss:` is the loss settings themselves: one definition, capo/settings.py, with the
# ranges that `capo check-params`, CAPOConfig and the study's grids all apply.
LossParams = LossSettings


def check_loss_setting(key: str, value: Any, where: str) -> Any:
    """``value`` checked as loss setting ``key`` (type, range, allowed words), or ParamsError
    under ``where``."""
    try:
        return check_setting(key, value)
    except (KeyError, ValueError) as err:
        message = err.args[0] if err.args else str(err)
        raise ParamsError(f"{where}: {message.removeprefix(key + ' ')}") from err


# transformers 5's SchedulerType values (tests/test_params.py checks the list against it), so
# a misspelt scheduler is a params error, not a ValueError in train@<loss> after four stages.
LR_SCHEDULERS = ("linear", "cosine", "cosine_with_restarts", "polynomial", "constant")
LR_SCHEDULERS += ("constant_with_warmup", "inverse_sqrt", "reduce_lr_on_plateau")
LR_SCHEDULERS += ("cosine_with_min_lr", "cosine_warmup_with_min_lr", "warmup_stable_decay")
LR_SCHEDULERS += ("greedy",)

BUILTIN_MODEL = "builtin-tiny"
# Losses that train a TRL loss type on the pairs a data-selection step keeps before training
# (pipelines/models/selection.py): name -> the loss type that trains. "filtered" is DPO on the
# pairs whose score margin and translation confidence pass the loss's thresholds.
SELECTION_LOSSES = {"filtered": "sigmoid"}
# "capo" plus TRL 1.16's DPO loss types (trl/trainer/dpo_config.py, `loss_type` help), then
# capo's baselines: cDPO and ODPO (capo/loss.py) and filtered DPO (SELECTION_LOSSES).
KNOWN_LOSSES = ("capo", "sigmoid", "hinge", "ipo", "exo_pair", "nca_pair", "robust", "bco_pair")
KNOWN_LOSSES += ("sppo_hard", "aot", "aot_unpaired", "apo_zero", "apo_down", "discopop", "sft")
KNOWN_LOSSES += ("sigmoid_norm", "cdpo", "odpo", *SELECTION_LOSSES)
_OVERRIDABLE = SETTING_NAMES  # train.loss_overrides and the study's variants set any of them


@dataclass(frozen=True)
class PolicyParams:
    """`policy:` the starting policy, also the frozen reference (pipelines/models/sft.py)."""

    model: str = BUILTIN_MODEL  # builtin-tiny, a HF model id, a local directory or .gguf file
    trust_remote_code: bool = False  # let a hub/local model run its own modelling code
    max_length: PositiveInt = 256  # token limit of prompt+completion in SFT, reference and training
    vocab_size: PositiveInt = 500  # builtin-tiny: byte-level BPE vocabulary size
    hidden_size: PositiveInt = 128  # builtin-tiny: hidden width
    num_layers: PositiveInt = 2  # builtin-tiny: decoder layers
    num_heads: PositiveInt = 4  # builtin-tiny: attention heads
    sft_data: str = "auto"  # demonstrations | chosen | auto (demonstrations when there are some)
    sft_epochs: NonNegative = 5.0  # SFT epochs; 0 = no SFT (hub models only)
    sft_batch_size: PositiveInt = 64  # SFT examples per step
    sft_learning_rate: Positive = 3e-3  # SFT peak learning rate (tiny random init: high)

    def __post_init__(self) -> None:
        if self.hidden_size % self.num_heads:
            raise ValueError(f"hidden_size {self.hidden_size} not divisible by num_heads")
        if self.sft_data not in ("auto", "demonstrations", "chosen"):
            raise ValueError(
                f"sft_data: expected auto, demonstrations or chosen: {self.sft_data!r}"
            )


@dataclass(frozen=True)
class ReferenceParams:
    """`reference:` reference log-probs of every pair under the policy (models/logps.py)."""

    batch_size: PositiveInt = 32  # pairs per forward pass (each pair is two sequences)
    bucket: bool = True  # sort pairs by length before batching (less padding)
    device: str = "auto"  # auto (cuda when present) | cpu | cuda | cuda:N

    def __post_init__(self) -> None:
        if self.batch_size < 1:
            raise ValueError(f"batch_size: must be >= 1, got {self.batch_size}")


@dataclass(frozen=True)
class LoraParams:
    """`train.lora:` train a LoRA adapter instead of all weights (peft); merged on save."""

    enabled: bool = False  # train LoRA adapters only
    r: PositiveInt = 8  # adapter rank
    alpha: PositiveInt = 16  # adapter scaling numerator
    dropout: Rate = 0.0  # adapter dropout
    target_modules: tuple[str, ...] = ("q_proj", "k_proj", "v_proj", "o_proj")  # wrapped layers


def _default_overrides() -> dict[str, dict[str, Any]]:
    return {"robust": {"label_smoothing": 0.1}}


@dataclass(frozen=True)
class TrainParams:
    """`train:` preference training, one run per loss in a DVC matrix (models/training.py)."""

    losses: tuple[str, ...] = ("capo", "sigmoid", "ipo", "robust")  # the matrix
    loss_overrides: dict[str, dict[str, Any]] = field(default_factory=_default_overrides)
    epochs: Positive = 1.0  # passes over the training pairs
    max_steps: Annotated[int, Range(ge=-1)] = -1  # stop after N optimizer steps; -1 = epochs
    batch_size: PositiveInt = 16  # pairs per optimizer step, over all processes together
    gradient_accumulation_steps: PositiveInt = 1  # micro-batches per optimizer step
    learning_rate: Positive = 5e-5  # peak learning rate (5e-4 wrecks the tiny model's answers)
    nll_weight: NonNegative = 0.0  # NLL on chosen beside the loss (RPO, TRL "sft"); 0 = none
    lr_scheduler: str = "cosine"  # transformers scheduler name (LR_SCHEDULERS)
    warmup_ratio: Rate = 0.1  # share of steps spent warming up
    weight_decay: NonNegative = 0.0  # AdamW weight decay
    max_grad_norm: NonNegative = 1.0  # gradient clipping; 0 = none
    logging_steps: PositiveInt = 5  # log metrics every N steps
    eval_steps: NonNegativeInt = 0  # evaluate on the test pairs every N steps; 0 = only at the end
    save_steps: PositiveInt = 25  # checkpoint every N steps (a killed run resumes from the last)
    save_total_limit: PositiveInt = 2  # checkpoints kept
    bf16: bool = False  # bf16 mixed precision (GPU; scripts/gpu-check.sh sets it)
    gradient_checkpointing: bool = False  # recompute activations: less memory, ~20% slower
    lora: LoraParams = field(default_factory=LoraParams)

    def __post_init__(self) -> None:
        if self.lr_scheduler not in LR_SCHEDULERS:
            raise ValueError(
                f"lr_scheduler: unknown scheduler {self.lr_scheduler!r} "
                f"(known: {', '.join(LR_SCHEDULERS)})"
            )
        if not self.losses or len(set(self.losses)) != len(self.losses):
            raise ValueError(f"losses: must be a non-empty list without repeats: {self.losses}")
        for i, name in enumerate(self.losses):
            if name not in KNOWN_LOSSES:
                raise ValueError(f"losses[{i}]: unknown loss {name!r} (known: {KNOWN_LOSSES})")
        for name, values in self.loss_overrides.items():
            bad = sorted(set(values) - set(_OVERRIDABLE))
            if name not in KNOWN_LOSSES or bad:
                raise ValueError(f"loss_overrides.{name}: unknown loss, or bad keys {bad}")
            for key, value in values.items():  # the `loss:` section's ranges apply
                check_loss_setting(key, value, f"loss_overrides.{name}.{key}")
