"""Every place capo touches TRL's internals, named here; written against trl==1.16 (pinned).

There are five. CAPOTrainer (capo/trainer.py) uses them and nothing else of TRL's private
surface; tests/test_trainer.py checks that it overrides exactly PRIVATE_HOOKS, that each
still exists on ``trl.DPOTrainer``, and CAPO with gamma 0 against TRL's own sigmoid loss;
tests/test_baselines.py does the same for cDPO with eps 0 and ODPO with offset_scale 0.

1. ``route_logsigmoid``: for ``loss_type="capo"`` (and capo's baselines "cdpo" and "odpo",
   the CORE_LOSSES of capo/settings.py) TRL runs its own "sigmoid" branch of
   ``DPOTrainer._compute_loss``, so TRL still computes the log-probs, the reference, every
   metric and the reduction. That branch makes exactly one call,
   ``-F.logsigmoid(self.beta * delta)``. The module global ``F`` of
   ``trl.trainer.dpo_trainer`` is replaced for the duration of one ``_compute_loss`` call
   with a stand-in whose ``logsigmoid`` returns minus the core loss of the margin
   (``capo_margin_loss``, ``cdpo_margin_loss`` or ``odpo_margin_loss``), and torch's is put
   back afterwards, whatever happens. A second call in one step, or none, means TRL
   changed: both raise.
2. ``trl_loss_types``: after TRL's ``__init__`` the trainer's ``loss_types`` list has
   "capo" (or "cdpo", "odpo") renamed to TRL_LOSS_TYPE ("sigmoid"), so TRL's branch above
   runs.
3-5. PRIVATE_HOOKS, the private ``DPOTrainer`` methods CAPOTrainer overrides:
   ``_compute_loss`` (pop the score columns, route the loss), ``_set_signature_columns_if_needed``
   (keep the score and translation-confidence columns: TRL would drop them silently) and
   ``_precompute_ref_logps`` (keep reference log-prob columns a dataset already has).
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from typing import Any

import torch
import torch.nn.functional as F
import trl.trainer.dpo_trainer as trl_dpo

from capo.settings import CORE_LOSSES

__all__ = ["PRIVATE_HOOKS", "TRL_LOSS_TYPE", "route_logsigmoid", "trl_loss_types"]

TRL_LOSS_TYPE = "sigmoid"  # TRL's branch that "capo", "cdpo", "odpo" run as, logsigmoid routed
PRIVATE_HOOKS = ("_compute_loss", "_set_signature_columns_if_needed", "_precompute_ref_logps")


def trl_loss_types(loss_types: list[str]) -> list[str]:
    """TRL's loss types for a trainer's: "capo", "cdpo" and "odpo" run as TRL_LOSS_TYPE."""
    return [TRL_LOSS_TYPE if t in CORE_LOSSES else t for t in loss_types]


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
