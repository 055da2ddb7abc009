"""DVC stage `loss_settings`: each loss's resolved settings, the file its train stage reads.

    python -m capo_pipelines.loss_settings --params params.yaml --out data/loss_settings

Writes <out>/<loss>.json for every train.losses entry with exactly the settings that loss
reads (capo_pipelines.params.losses.settings_document): CAPO's eight settings for capo, beta
and label_smoothing for cdpo and a TRL loss, beta, offset_scale and use_scores for odpo, beta
and the selection thresholds for filtered, each from `loss:` under the loss's
train.loss_overrides entry.
train@<loss> depends on its file instead of on `loss:` params, so a CAPO-only change
(loss.gamma, tau, kappa, direction, use_scores, use_translation_confidence) rewrites capo.json
alone and DVC retrains capo alone; loss.beta changes every file. Imports no torch.
"""

from __future__ import annotations

import argparse
import logging
import shutil
from pathlib import Path

from capo_pipelines._stage import run_stage
from capo_pipelines.params import load_params
from capo_pipelines.params.losses import write_loss_settings

logger = logging.getLogger("capo_pipelines.loss_settings")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Command-line options; dvc.yaml passes every path."""
    parser = argparse.ArgumentParser(
        prog="python -m capo_pipelines.loss_settings", description=__doc__
    )
    parser.add_argument("--params", default="params.yaml")
    parser.add_argument("--out", default="data/loss_settings", help="one <loss>.json per loss")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    """Write one settings file per train.losses entry; nothing else stays in the folder."""
    args = parse_args(argv)
    params = load_params(args.params)
    out = Path(args.out)
    shutil.rmtree(out, ignore_errors=True)  # a loss dropped from train.losses leaves no file
    for loss in params.train.losses:
        path = write_loss_settings(loss, params, out)
        logger.info("%s: %s", loss, path.read_text(encoding="utf-8").replace("\n", ""))


if __name__ == "__main__":
    run_stage("loss_settings", main)
