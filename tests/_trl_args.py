"""Training arguments for the tests' tiny TRL runs: a few steps on the CPU, nothing saved."""

from __future__ import annotations

from pathlib import Path
from typing import Any


def tiny_args(cls: type, out: Path, **kw: Any) -> Any:
    """``cls`` (DPOConfig, CAPOConfig) for 3 steps of batch 4 at lr 1e-3 with a precomputed
    reference, writing under ``out``; ``kw`` overrides any of it."""
    base = dict(
        output_dir=str(out),
        per_device_train_batch_size=4,
        per_device_eval_batch_size=8,
        learning_rate=1e-3,
        max_steps=3,
        logging_steps=1,
        save_strategy="no",
        report_to="none",
        seed=0,
        bf16=False,
        activation_checkpointing=False,
        precompute_ref_log_probs=True,
        max_length=64,
        disable_tqdm=True,
        use_cpu=True,
    )
    return cls(**{**base, **kw})
