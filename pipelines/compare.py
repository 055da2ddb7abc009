"""DVC stage `compare`: CAPO against every baseline per language, as Markdown, HTML and JSON.

    python -m capo_pipelines.compare
    python -m capo_pipelines.compare --metrics metrics --out-md /tmp/comparison.md

Reads the evaluate stage's metrics/<loss>.json for every loss in train.losses, the training
curves dvclive wrote, and the candidate's per-pair CAPO weights with the training split's
label_flipped for the noise analysis.
"""

from __future__ import annotations

import argparse
import json
import logging
from pathlib import Path
from typing import Any

from capo_pipelines._stage import run_stage
from capo_pipelines.evaluation.comparison import (
    compare_losses,
    compared_losses,
    load_metrics,
    read_curves,
)
from capo_pipelines.evaluation.noise import noise_analysis
from capo_pipelines.params import Params, load_params
from capo_pipelines.reporting.comparison_report import (
    degenerate_lines,
    headline,
    render_html,
    render_markdown,
    report_tables,
)
from capo_pipelines.reporting.plots import comparison_figures

logger = logging.getLogger("capo_pipelines.compare")


def _write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")


def compare(args: argparse.Namespace, params: Params) -> dict[str, Any]:
    """Build and write the report, charts and comparison JSON; returns the JSON."""
    losses, cfg = compared_losses(params), params.compare
    metrics = load_metrics(Path(args.metrics), losses)
    weights = Path(args.weights or Path(args.models) / cfg.candidate / "pair_weights.parquet")
    noise = noise_analysis(Path(args.train), weights)
    comparison = compare_losses(metrics, cfg.candidate, cfg.baseline, cfg.worse_tolerance, noise)
    figures = comparison_figures(
        metrics,
        comparison,
        cfg.candidate,
        Path(args.figures),
        noise=noise,
        curves=read_curves(Path(args.live), losses),
        dpi=cfg.dpi,
    )
    title = f"{cfg.candidate} against the baselines, per language"
    lines = degenerate_lines(metrics) + headline(comparison, cfg.candidate, cfg.baseline)
    tables = report_tables(comparison, metrics, cfg.candidate, noise)
    md_path = Path(args.out_md)
    _write(md_path, render_markdown(title, lines, tables, figures, relative_to=md_path.parent))
    _write(Path(args.out_html), render_html(title, lines, tables, figures))
    _write(Path(args.out_json), json.dumps(comparison, indent=2) + "\n")
    for line in lines:
        logger.info("%s", line)
    return comparison


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Command-line options; dvc.yaml passes every path."""
    parser = argparse.ArgumentParser(prog="python -m capo_pipelines.compare", description=__doc__)
    parser.add_argument("--params", default="params.yaml")
    parser.add_argument("--metrics", default="metrics", help="folder of <loss>.json")
    parser.add_argument("--live", default="dvclive/train", help="folder of dvclive <loss> dirs")
    parser.add_argument("--train", default="data/validated/train.parquet")
    parser.add_argument("--models", default="models", help="folder of trained <loss> models")
    parser.add_argument(
        "--weights",
        default=None,
        help="CAPO pair weights; default <models>/<candidate>/pair_weights.parquet",
    )
    parser.add_argument("--out-md", default="reports/comparison.md")
    parser.add_argument("--out-html", default="reports/comparison.html")
    parser.add_argument("--out-json", default="reports/comparison.json")
    parser.add_argument("--figures", default="reports/figures")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    """Parse arguments and write the comparison."""
    args = parse_args(argv)
    compare(args, load_params(args.params))


if __name__ == "__main__":
    run_stage("compare", main)
