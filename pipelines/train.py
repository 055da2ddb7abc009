"""DVC stage `train` (one matrix entry per loss): preference training from the policy.

    python -m capo_pipelines.train --loss capo --settings data/loss_settings/capo.json
    accelerate launch --num_processes 2 -m capo_pipelines.train --loss capo      # 2 GPUs
    torchrun --nproc_per_node 2 -m capo_pipelines.train --loss capo              # 2 CPU processes

(`accelerate launch --cpu` starts a single process: accelerate's multi-CPU mode needs MPI.)

dvc.yaml passes the loss's settings as its file of the loss_settings stage (``--settings``),
not through params.yaml `loss:`: DVC tracks that file, which holds only what the loss reads, so
a CAPO-only change (loss.gamma) retrains capo alone. Without ``--settings`` (a run by hand) they
are resolved from ``--params`` as that stage would.

Metrics and training curves go to dvclive (one directory per loss). The dvclive logger lives
here, not in capo/, so the core package stays free of DVC libraries.
"""

from __future__ import annotations

import argparse
import logging
import shutil
from pathlib import Path
from typing import Any

import pandas as pd
from transformers import TrainerCallback

from capo_pipelines._stage import run_stage
from capo_pipelines.data.contract import (
    MODEL_COLUMNS,
    REFERENCE_KEY,
    join_reference,
    read_split,
    split_path,
)
from capo_pipelines.models.training import train_loss
from capo_pipelines.params import load_params
from capo_pipelines.params.losses import check_loss, read_loss_settings

logger = logging.getLogger("capo_pipelines.train")

_SKIP = {"epoch", "total_flos", "step"}
# Summary numbers, not curves: kept in metrics.json, no plot file.
_NO_PLOT = ("train_loss",)
# Wall-clock figures go to the stage log only: metrics.json is a DVC-tracked output, and a
# runtime in it would change it (and dvc.lock) on every reproduction of the same results.
_TIMING = ("runtime", "samples_per_second", "steps_per_second")


def _metric_name(key: str) -> str:
    if key.startswith("eval_"):
        return "eval/" + key.removeprefix("eval_")
    return key if key.startswith("train_") else "train/" + key


class DvcLiveCallback(TrainerCallback):
    """Logs every Trainer log entry to dvclive at its global step, on the main process.

    A resumed run replays the checkpoint's log history first, so its curves equal those of an
    uninterrupted run.
    """

    def __init__(self, live_dir: str | Path) -> None:
        self.live_dir = Path(live_dir)
        self.live: Any = None

    def on_train_begin(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        if not state.is_world_process_zero or self.live is not None:
            return
        from dvclive import Live

        shutil.rmtree(self.live_dir, ignore_errors=True)
        self.live = Live(str(self.live_dir), save_dvc_exp=False, dvcyaml=None, report=None)
        for entry in state.log_history:  # non-empty only when resuming
            self._log(entry)

    def on_log(self, args: Any, state: Any, control: Any, logs: Any = None, **kwargs: Any) -> None:
        if self.live is not None and logs:
            self._log({**logs, "step": state.global_step})

    def _log(self, entry: dict[str, Any]) -> None:
        self.live.step = int(entry.get("step", 0))
        timings = {k: v for k, v in entry.items() if k.endswith(_TIMING)}
        if timings:
            logger.info("timings: %s", ", ".join(f"{k} {v:g}" for k, v in timings.items()))
        for key, value in entry.items():
            if key in timings:
                continue
            if key not in _SKIP and isinstance(value, int | float) and not isinstance(value, bool):
                plot = not key.endswith(_NO_PLOT)
                self.live.log_metric(_metric_name(key), float(value), plot=plot)
        self.live.make_summary()


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Command-line options; dvc.yaml passes every path."""
    parser = argparse.ArgumentParser(prog="python -m capo_pipelines.train", description=__doc__)
    parser.add_argument("--loss", required=True, help="one of params train.losses")
    parser.add_argument("--params", default="params.yaml")
    parser.add_argument(
        "--settings",
        required=True,
        help="the loss's settings file, written by the loss_settings stage",
    )
    parser.add_argument("--policy", default="models/policy")
    parser.add_argument("--pairs", default="data/validated", help="holds train/test.parquet")
    parser.add_argument("--reference", default="data/reference", help="holds train/test.parquet")
    parser.add_argument("--out", default=None, help="default: models/<loss>")
    parser.add_argument("--checkpoints", default=None, help="default: checkpoints/<loss>")
    parser.add_argument("--live", default=None, help="default: dvclive/train/<loss>")
    return parser.parse_args(argv)


def read_pairs(pairs_dir: str, reference_dir: str, split: str) -> pd.DataFrame:
    """One split's pairs joined with their reference log-probs."""
    pairs = read_split(pairs_dir, split, MODEL_COLUMNS)
    reference = read_split(reference_dir, split, REFERENCE_KEY)
    return join_reference(pairs, reference, str(split_path(reference_dir, split)))


def main(argv: list[str] | None = None) -> None:
    """Parse arguments, join pairs with their reference log-probs, train one loss."""
    args = parse_args(argv)
    params = load_params(args.params)
    check_loss(args.loss, params)  # an unknown loss fails before reading data
    settings = read_loss_settings(args.settings)  # the loss's one LossSettings, whole
    splits = {s: read_pairs(args.pairs, args.reference, s) for s in ("train", "test")}
    live = Path(args.live or f"dvclive/train/{args.loss}")
    checkpoints = Path(args.checkpoints or f"checkpoints/{args.loss}")
    trainer = train_loss(
        args.loss,
        params,
        args.policy,
        splits["train"],
        splits["test"],
        out_dir=args.out or f"models/{args.loss}",
        checkpoint_dir=checkpoints,
        callbacks=[DvcLiveCallback(live)],
        settings=settings,
    )
    if trainer.accelerator.is_main_process:  # they only serve to resume a killed run; a
        shutil.rmtree(checkpoints, ignore_errors=True)  # finished one would resume at its end
        logger.info("%s: run finished, %s removed", args.loss, checkpoints)


if __name__ == "__main__":
    run_stage("train", main)
