"""Progress output of the model layer that obeys transformers' progress-bar switch.

``transformers.utils.logging.disable_progress_bar()`` silences transformers' own bars
(weights loading, shards). The bars here (log-probs, generation) and the trainers' console
output follow it, so one call quiets a whole run, as the noise study does in each trial
(its own bar covers all trials).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any, TypeVar

from tqdm.auto import tqdm

__all__ = ["bars_enabled", "progress", "quiet_trainer"]

T = TypeVar("T")


def bars_enabled() -> bool:
    """transformers' switch: False after ``disable_progress_bar()``."""
    from transformers.utils import logging as hf_logging

    return hf_logging.is_progress_bar_enabled()


def progress(items: Iterable[T], desc: str, unit: str = "batch") -> Iterator[T]:
    """``items`` with a tqdm bar, unless transformers' progress bars are disabled."""
    return iter(tqdm(items, desc=desc, unit=unit, disable=not bars_enabled()))


def quiet_trainer(trainer: Any) -> Any:
    """``trainer`` printing neither a bar nor its metric dicts when bars are disabled
    (``state.log_history`` and callbacks such as dvclive still get every log)."""
    if not bars_enabled():
        from transformers.trainer_callback import PrinterCallback, ProgressCallback

        trainer.remove_callback(ProgressCallback)
        trainer.remove_callback(PrinterCallback)
    return trainer
