"""The one place capo reaches into TRL: CAPO's loss in place of TRL's logsigmoid, for one call.

For ``loss_type="capo"`` CAPOTrainer lets TRL 1.16 run its own "sigmoid" branch of
``DPOTrainer._compute_loss``, so TRL still computes the log-probs, the reference, every metric
and the reduction. That branch makes exactly one call, ``-F.logsigmoid(self.beta * delta)``.
``route_logsigmoid`` replaces the module global ``F`` of ``trl.trainer.dpo_trainer`` for the
duration of one ``_compute_loss`` call with a stand-in whose ``logsigmoid`` returns
``-capo_margin_loss(margin)``, and puts torch's back afterwards, whatever happens. A second
call in one step, or none, means TRL changed: both raise. trl is pinned (pyproject.toml) and
tests/test_trainer.py checks CAPO with gamma 0 against TRL's own sigmoid loss.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from typing import Any

import torch
import torch.nn.functional as F
import trl.trainer.dpo_trainer as trl_dpo

__all__ = ["route_logsigmoid"]


class _LogSigmoidRoute:
    """Stands in for ``torch.nn.functional`` inside one ``DPOTrainer._compute_loss`` call."""

    def __init__(self, loss_fn: Callable[[torch.Tensor], torch.Tensor]) -> None:
        self._loss_fn = loss_fn
        self.calls = 0

    def __getattr__(self, name: str) -> Any:
        return getattr(F, name)

    def logsigmoid(self, margin: torch.Tensor) -> torch.Tensor:
        self.calls += 1
        if self.calls > 1:
            raise RuntimeError("TRL called F.logsigmoid twice in _compute_loss: trl changed?")
        return -self._loss_fn(margin)


@contextlib.contextmanager
def route_logsigmoid(loss_fn: Callable[[torch.Tensor], torch.Tensor]) -> Iterator[None]:
    route = _LogSigmoidRoute(loss_fn)
    trl_dpo.F = route
    try:
        yield
    finally:
        trl_dpo.F = F
    if route.calls != 1:
        raise RuntimeError("TRL's sigmoid loss branch was not reached: is trl pinned to 1.16?")
