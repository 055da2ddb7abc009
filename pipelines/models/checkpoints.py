"""Resumable checkpoints: which one a killed run may resume from, and the loop state it needs.

    resume = resume_checkpoint(Path("checkpoints/capo"), world_size=1, main=True)
    trainer = CAPOTrainer(..., callbacks=[loop := LoopState(resume), ...])
    loop.bind(trainer)
    trainer.train(resume_from_checkpoint=resume)

transformers' get_last_checkpoint picks the highest ``checkpoint-<step>`` folder by its name
alone, so a save cut short (disk full, a kill) leaves a folder every later run resumes from and
dies on. resume_checkpoint takes the newest *complete* one instead: trainer_state.json parses
and is at the folder's step; the model weights, optimizer.pt, scheduler.pt and every process's
RNG state are there and whole (a safetensors header that covers the file, a torch zip archive
with its end record); and every process's loop-state file is there. A newer folder that fails
is logged with the reason and removed; with none left the run starts afresh.

The loop-state file (LoopState) is what Trainer and TRL keep only in memory, so that a resumed
run records the history of an uninterrupted one. transformers' Trainer sums the training loss
of the current ``train()`` call only (``_total_loss_scalar``, reset at the start of the loop,
and divided by the steps of this call: trainer.py ``_finalize_training``), and keeps the loss
and TRL's metrics of the steps since the last log in memory (``_tr_loss``,
``_globalstep_last_logged``, ``_metrics["train"]``); TRL's DPOTrainer counts ``num_tokens``
from 0 in every new trainer (``_total_train_tokens``). LoopState writes these with each
checkpoint, after everything else and atomically (a temporary file renamed), so the file also
marks the checkpoint complete, and puts them back when a resumed run begins. It also keeps the
log history with each entry's keys in the order they were logged: trainer_state.json sorts them,
and a run resumed from it would otherwise write log_history.json and dvclive's metrics.json in
another order than an uninterrupted run (other bytes, another DVC hash). LoopState must come
before any callback that reads the log history at on_train_begin (train.py's DvcLiveCallback).
"""

from __future__ import annotations

import json
import logging
import os
import re
import shutil
import zipfile
from pathlib import Path
from typing import Any

from transformers import TrainerCallback

from capo.errors import CapoError
from capo_pipelines.models.reproducible import without_timings

__all__ = ["LoopState", "checkpoint_problem", "loop_state_name", "resume_checkpoint"]

logger = logging.getLogger(__name__)

_CHECKPOINT = re.compile(r"^checkpoint-(\d+)$")
# transformers' _load_from_checkpoint takes any one of these (full model, shards, LoRA adapter)
_WEIGHTS = (
    "model.safetensors",
    "model.safetensors.index.json",
    "pytorch_model.bin",
    "pytorch_model.bin.index.json",
    "adapter_model.safetensors",
    "adapter_model.bin",
)
# What Trainer and TRL hold in memory between logs and across a run (see the module docstring)
_LOOP_ATTRIBUTES = (
    "_total_loss_scalar",
    "_tr_loss",
    "_globalstep_last_logged",
    "_initial_global_step",
    "_total_train_tokens",
    "_metrics",
)


def loop_state_name(rank: int, world_size: int) -> str:
    """The loop-state file of process ``rank``, named like Trainer's rng_state files."""
    return "capo_loop_state.json" if world_size <= 1 else f"capo_loop_state_{rank}.json"


def _rng_name(rank: int, world_size: int) -> str:
    return "rng_state.pth" if world_size <= 1 else f"rng_state_{rank}.pth"


def _file_problem(path: Path) -> str | None:
    """Why the file at ``path`` is missing or cut short, else None."""
    name = path.name
    if not path.is_file():
        return f"no {name}"
    if path.stat().st_size == 0:
        return f"{name} is empty"
    if path.suffix in (".pt", ".pth", ".bin") and not zipfile.is_zipfile(path):
        return f"{name} is cut short (no zip end record)"
    if path.suffix == ".safetensors":
        from safetensors import safe_open

        try:
            with safe_open(str(path), "pt"):
                pass
        except Exception as err:  # safetensors raises its own error types
            return f"{name} is unreadable ({err})"
    if path.suffix == ".json":
        try:
            doc = json.loads(path.read_text(encoding="utf-8"))
        except (ValueError, UnicodeDecodeError):
            return f"{name} does not parse"
        if name.endswith(".index.json"):  # a sharded model: every shard must be whole
            shards = sorted(set((doc.get("weight_map") or {}).values()))
            for shard in shards:
                if problem := _file_problem(path.parent / shard):
                    return problem
    return None


def checkpoint_problem(folder: Path, world_size: int) -> str | None:
    """Why ``folder`` (``checkpoint-<step>``) cannot be resumed from, or None if complete."""
    step = int(_CHECKPOINT.match(folder.name).group(1))
    if problem := _file_problem(folder / "trainer_state.json"):
        return problem
    state = json.loads((folder / "trainer_state.json").read_text(encoding="utf-8"))
    if not isinstance(state, dict) or state.get("global_step") != step:
        found = state.get("global_step") if isinstance(state, dict) else None
        return f"trainer_state.json is at step {found}, not {step}"
    weights = [folder / name for name in _WEIGHTS if (folder / name).exists()]
    if not weights:
        return "no model weights (" + ", ".join(_WEIGHTS[::2]) + ")"
    ranks = range(max(world_size, 1))
    files = [
        *weights,
        folder / "optimizer.pt",
        folder / "scheduler.pt",
        *(folder / _rng_name(rank, world_size) for rank in ranks),
        *(folder / loop_state_name(rank, world_size) for rank in ranks),
    ]
    for path in files:
        if problem := _file_problem(path):
            return problem
    history = _canonical(state.get("log_history", []))
    for rank in ranks:
        path = folder / loop_state_name(rank, world_size)
        loop = json.loads(path.read_text(encoding="utf-8"))
        if loop.get("global_step") != step:
            return f"{path.name} is not at step {step}"
        if _canonical(loop.get("log_history", [])) != history:
            return f"{path.name} holds another log history than trainer_state.json"
    return None


def _canonical(history: list[dict[str, Any]]) -> str:
    """A log history as text that ignores key order and timings (scrub_trainer_state drops
    them from trainer_state.json at the end of a run)."""
    return json.dumps(without_timings(history), sort_keys=True)


def resume_checkpoint(checkpoint_dir: Path, world_size: int, *, main: bool) -> str | None:
    """The newest complete checkpoint under ``checkpoint_dir``, or None (start afresh).

    Each newer incomplete one is logged with its reason and, by the ``main`` process, removed.
    """
    if not checkpoint_dir.is_dir():
        return None
    folders = [p for p in checkpoint_dir.iterdir() if _CHECKPOINT.match(p.name) and p.is_dir()]
    folders.sort(key=lambda p: int(_CHECKPOINT.match(p.name).group(1)), reverse=True)
    for folder in folders:
        problem = checkpoint_problem(folder, world_size)
        if problem is None:
            return str(folder)
        logger.warning("skipping incomplete checkpoint %s: %s; removing it", folder, problem)
        if main:
            shutil.rmtree(folder, ignore_errors=True)
    return None


def _write_atomic(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    with tmp.open("w", encoding="utf-8") as fh:
        fh.write(text)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)


class LoopState(TrainerCallback):
    """Writes the training loop's in-memory totals with each checkpoint (last, atomically) and
    restores them when a run resumes from ``resume``; ``bind`` it to its trainer first."""

    def __init__(self, resume: str | None) -> None:
        self.resume = resume
        self.trainer: Any = None

    def bind(self, trainer: Any) -> LoopState:
        self.trainer = trainer
        return self

    def _trainer(self) -> Any:
        missing = [a for a in _LOOP_ATTRIBUTES if not hasattr(self.trainer, a)]
        if missing:
            raise CapoError(
                f"cannot save or restore the training loop's state: the trainer has no {missing} "
                "(LoopState follows transformers 5 / TRL 1 internals; check their versions)"
            )
        return self.trainer

    def on_save(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        trainer = self._trainer()
        folder = Path(args.output_dir) / f"checkpoint-{state.global_step}"
        doc = {
            "global_step": state.global_step,
            "total_loss_scalar": trainer._total_loss_scalar,
            "tr_loss": trainer._tr_loss.item(),  # this process's loss since the last log
            "globalstep_last_logged": trainer._globalstep_last_logged,
            "total_train_tokens": trainer._total_train_tokens,
            "pending_metrics": {k: list(v) for k, v in trainer._metrics["train"].items()},
            # in the order it was logged: trainer_state.json sorts each entry's keys
            "log_history": state.log_history,
        }
        name = loop_state_name(args.process_index, args.world_size)
        _write_atomic(folder / name, json.dumps(doc, indent=1) + "\n")

    def on_train_begin(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        if self.resume is None:
            return
        trainer = self._trainer()
        path = Path(self.resume) / loop_state_name(args.process_index, args.world_size)
        doc = json.loads(path.read_text(encoding="utf-8"))
        if doc["global_step"] != state.global_step:
            raise CapoError(f"{path} is at step {doc['global_step']}, not {state.global_step}")
        trainer._total_loss_scalar = doc["total_loss_scalar"]
        trainer._tr_loss.fill_(doc["tr_loss"])
        trainer._globalstep_last_logged = doc["globalstep_last_logged"]
        trainer._initial_global_step = 0  # train_loss: the total over every step, as uninterrupted
        trainer._total_train_tokens = doc["total_train_tokens"]
        trainer._metrics["train"].clear()
        trainer._metrics["train"].update({k: list(v) for k, v in doc["pending_metrics"].items()})
        state.log_history = doc["log_history"]  # its keys in logged order, not sorted
