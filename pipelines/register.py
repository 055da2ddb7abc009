"""DVC stage `register`: apply the promotion gate and package the model as a DVC artifact.

    python -m capo_pipelines.register --params params.yaml --out models/registry/capo-policy
    python -m capo_pipelines.register ... --push-to-hub USER/NAME   # also upload the package

The gate of params.yaml `register:` is applied to the evaluate stage's metrics; when it
passes and every file of the model folder has the md5 DVC recorded for it (check_dvc_record:
a file changed behind DVC's back stops the stage with one line naming it), the model is
packaged (safetensors, tokenizer, model card; LICENSE.md while no license is chosen) as the
artifact declared in dvc.yaml, which runs it without --push-to-hub.
`capo register` / `capo models` (pipelines/register_commands.py) then record and list versions
as GTO git tags, and `capo register --push-to-hub REPO` uploads the version it records.
"""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

from capo_pipelines._stage import run_stage
from capo_pipelines.hub import check_push, push_folder
from capo_pipelines.models.registry import (
    LICENSE_FILE,
    CardInfo,
    apply_gate,
    check_dvc_record,
    file_md5,
    license_document,
    model_card,
    package_model,
)
from capo_pipelines.params import load_params
from capo_pipelines.params.losses import settings_document

__all__ = ["main", "parse_args"]

logger = logging.getLogger("capo_pipelines.register")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Command-line options; dvc.yaml passes every path."""
    parser = argparse.ArgumentParser(
        prog="python -m capo_pipelines.register",
        description="Gate and package the model to register.",
    )
    parser.add_argument("--params", default="params.yaml")
    parser.add_argument("--metrics", default="metrics", help="folder of <loss>.json metrics")
    parser.add_argument("--models", default="models", help="folder of trained models")
    parser.add_argument("--train-data", default="data/validated/train.parquet")
    parser.add_argument("--out", required=True, help="package folder (the DVC artifact path)")
    parser.add_argument(
        "--push-to-hub",
        metavar="REPO",
        help="also upload the package to this Hugging Face Hub model repo (USER/NAME)",
    )
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    """Apply the gate; when it passes, package the model with its card."""
    args = parse_args(argv)
    if args.push_to_hub:
        check_push(args.push_to_hub)  # before the work: no token is one line, not a late failure
    params = load_params(args.params)
    gate = params.register
    metrics, table = apply_gate(gate, Path(args.metrics))
    model_dir = Path(args.models) / gate.loss
    files = check_dvc_record(model_dir)  # the bytes DVC recorded, or one line saying what to do
    info = CardInfo(
        name=gate.name,
        base_model=params.policy.model,
        languages=sorted(metrics[gate.loss].get("per_language", {})),
        loss=gate.loss,
        settings=settings_document(gate.loss, params),  # what train@<loss> read, by name
        metrics=metrics[gate.loss],
        baseline_metrics=metrics[gate.baseline],
        data_md5=file_md5(Path(args.train_data)),
        weights_md5=files.get("model.safetensors") or file_md5(model_dir / "model.safetensors"),
        license=gate.license,
        baseline=gate.baseline,
        license_name=gate.license_name,
        license_link=gate.license_link,
    )
    out = Path(args.out)
    packaged = package_model(model_dir, out, model_card(info))
    license_text = license_document(info)
    if license_text is not None:
        (out / LICENSE_FILE).write_text(license_text, encoding="utf-8")
        packaged.append(out / LICENSE_FILE)
    logger.info("gate passed:\n%s", table)
    logger.info("%s: %d files match DVC's record", model_dir, len(files))
    logger.info("packaged %d files into %s", len(packaged), args.out)
    if args.push_to_hub:
        push_folder(out, args.push_to_hub, "model", message=f"capo register stage: {gate.name}")
        logger.info("pushed %s to the Hub model repo %s", args.out, args.push_to_hub)


if __name__ == "__main__":
    run_stage("register", main)
