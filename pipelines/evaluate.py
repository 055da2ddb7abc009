"""DVC stage `evaluate` (one matrix entry per loss): per-language metrics on the test split.

    python -m capo_pipelines.evaluate --loss capo
    python -m capo_pipelines.evaluate --loss sigmoid --out metrics/sigmoid.json

Writes the metrics JSON (reward accuracy and margin against the reference, generation
accuracy and language fidelity, the reference policy's generation scores) and one row per
language for `dvc plots`.
"""

from __future__ import annotations

import argparse
import json
import logging
from pathlib import Path
from typing import Any

from capo.errors import CapoError
from capo_pipelines._stage import run_stage
from capo_pipelines.data.contract import LANGUAGE_COLUMNS, REFERENCE_KEY, read_table
from capo_pipelines.evaluation.evaluator import (
    generation_of,
    gold_fidelity_frame,
    metrics_document,
    plot_rows,
    rewards_of,
    with_health,
)
from capo_pipelines.models.device import resolve_device
from capo_pipelines.models.load import load_pretrained
from capo_pipelines.params import Params, load_params
from capo_pipelines.params.losses import check_loss, read_loss_settings, reward_beta

logger = logging.getLogger("capo_pipelines.evaluate")


def _load(path: str, params: Params) -> tuple[Any, Any]:
    model, tokenizer = load_pretrained(path, params.policy.trust_remote_code)
    return model.to(resolve_device(params.evaluate.device)), tokenizer


def evaluate(args: argparse.Namespace, params: Params) -> dict[str, Any]:
    """The metrics document of ``args.loss`` (see capo_pipelines.evaluation.evaluator)."""
    check_loss(args.loss, params)
    beta = reward_beta(read_loss_settings(args.settings), params)  # the file training read
    pairs = read_table(args.pairs, LANGUAGE_COLUMNS)
    if pairs.empty:
        raise CapoError(f"{args.pairs}: no test pairs to evaluate")
    reference = read_table(args.reference, REFERENCE_KEY)
    model, tokenizer = _load(args.model or f"models/{args.loss}", params)
    rewards = rewards_of(model, tokenizer, pairs, reference, beta, params)
    answers = generation_of(model, tokenizer, pairs, params, f"generation ({args.loss})")
    del model
    ref_answers = None
    if params.evaluate.reference_generation:
        policy, policy_tokenizer = _load(args.policy, params)
        ref_answers = generation_of(
            policy, policy_tokenizer, pairs, params, "generation (reference)"
        )
    gold = gold_fidelity_frame(pairs, params.ingest.languages)
    return with_health(metrics_document(rewards, answers, ref_answers, gold), params)


def _write_json(path: Path, data: Any) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Command-line options; dvc.yaml passes every path."""
    parser = argparse.ArgumentParser(prog="python -m capo_pipelines.evaluate", description=__doc__)
    parser.add_argument("--loss", required=True, help="one of params train.losses")
    parser.add_argument(
        "--settings",
        required=True,
        help="the loss's settings file (stage loss_settings): beta, unless evaluate.beta is set",
    )
    parser.add_argument("--params", default="params.yaml")
    parser.add_argument("--model", default=None, help="trained model dir; default models/<loss>")
    parser.add_argument("--policy", default="models/policy", help="the reference policy")
    parser.add_argument("--pairs", default="data/validated/test.parquet")
    parser.add_argument("--reference", default="data/reference/test.parquet")
    parser.add_argument("--out", default=None, help="metrics JSON; default metrics/<loss>.json")
    parser.add_argument("--plots", default=None, help="default plots/evaluate/<loss>.json")
    return parser.parse_args(argv)


def _log_summary(loss: str, doc: dict[str, Any], out: Path) -> None:
    overall = doc["overall"]
    if doc["health"]["degenerate"]:
        logger.warning("%s is degenerate: %s", loss, "; ".join(doc["health"]["reasons"]))
    logger.info(
        "%s: reward accuracy %.4f, margin %.4f, generation accuracy %s over %d pairs -> %s",
        loss,
        overall["reward_accuracy"],
        overall["reward_margin"],
        overall.get("generation_accuracy"),
        overall["pairs"],
        out,
    )


def main(argv: list[str] | None = None) -> None:
    """Parse arguments, evaluate one loss, write its metrics and plot rows."""
    args = parse_args(argv)
    doc = evaluate(args, load_params(args.params))
    out = Path(args.out or f"metrics/{args.loss}.json")
    _write_json(out, doc)
    _write_json(Path(args.plots or f"plots/evaluate/{args.loss}.json"), plot_rows(doc))
    _log_summary(args.loss, doc, out)


if __name__ == "__main__":
    run_stage("evaluate", main)
