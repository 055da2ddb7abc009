"""CAPO against each baseline per language: the numbers of the comparison JSON.

    metrics = load_metrics(Path("metrics"), ["capo", "sigmoid", "ipo", "robust"])
    comparison = compare_losses(metrics, "capo", baseline="sigmoid")

Input documents are the evaluate stage's ``metrics/<loss>.json``. Relative changes are
``(capo - baseline) / |baseline|`` (None for a zero baseline); a language is *worse* when
CAPO's reward accuracy trails the baseline's by more than ``tolerance``. The report's
sentences and tables are laid out by pipelines/reporting/comparison_report.py.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from capo.errors import CapoError
from capo_pipelines.evaluation.metrics import relative_change
from capo_pipelines.params import Params

__all__ = [
    "METRICS",
    "compare_losses",
    "compare_pair",
    "compared_losses",
    "load_metrics",
    "read_curves",
]

logger = logging.getLogger(__name__)

METRICS = ("reward_accuracy", "reward_margin", "generation_accuracy", "language_fidelity")


def compared_losses(params: Params) -> list[str]:
    """train.losses, once compare.candidate and compare.baseline are known to be among them."""
    losses, cfg = list(params.train.losses), params.compare
    for name in (cfg.candidate, cfg.baseline):
        if name not in losses:
            raise CapoError(f"compare: loss {name!r} is not in params train.losses {losses}")
    return losses


def load_metrics(metrics_dir: Path, losses: Sequence[str]) -> dict[str, dict[str, Any]]:
    """``{loss: metrics/<loss>.json}``; a missing or malformed file is a CapoError."""
    out = {}
    for loss in losses:
        path = Path(metrics_dir) / f"{loss}.json"
        try:
            doc = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as err:
            hint = f" (is {loss!r} evaluated?)" if isinstance(err, FileNotFoundError) else ""
            raise CapoError(f"{path}: cannot read evaluate metrics{hint}: {err}") from err
        if not isinstance(doc, dict) or not {"overall", "per_language"} <= set(doc):
            raise CapoError(f"{path}: expected 'overall' and 'per_language' keys")
        out[loss] = doc
    return out


def read_curves(
    live_root: Path, losses: Sequence[str], metric: str = "train/rewards/accuracies"
) -> dict[str, list[tuple[float, float]]]:
    """(step, value) points of a logged metric per loss, from dvclive's TSV history files.

    The file is ``<live_root>/<loss>/plots/metrics/<metric>.tsv`` with a ``step`` column and
    a column named after the metric's last part; losses without one are left out.
    """
    import pandas as pd

    curves = {}
    for loss in losses:
        path = Path(live_root) / loss / "plots" / "metrics" / f"{metric}.tsv"
        if not path.is_file():
            logger.warning("no training curve %s", path)
            continue
        try:
            table = pd.read_csv(path, sep="\t")
            column = table[metric.rsplit("/", 1)[-1]].astype(float)
            curves[loss] = list(zip(table["step"].astype(float), column, strict=True))
        except (OSError, ValueError, KeyError) as err:
            raise CapoError(f"{path}: cannot read the training curve: {err}") from err
    return curves


def _side_by_side(cand: Mapping[str, Any], base: Mapping[str, Any]) -> dict[str, Any]:
    row: dict[str, Any] = {}
    for key in METRICS:
        row[key], row[f"baseline_{key}"] = cand.get(key), base.get(key)
    acc, base_acc = row["reward_accuracy"], row["baseline_reward_accuracy"]
    both = acc is not None and base_acc is not None
    row["reward_accuracy_change"] = acc - base_acc if both else None
    row["reward_accuracy_relative_change"] = relative_change(acc, base_acc)
    return row


def compare_pair(
    candidate: Mapping[str, Any], baseline: Mapping[str, Any], tolerance: float = 0.0
) -> dict[str, Any]:
    """Candidate and baseline metrics side by side, overall and per language, with changes.

    ``mean_relative_change`` averages the per-language relative changes (languages weigh
    equally, whatever their pair counts); ``languages_worse`` counts languages where the
    candidate's reward accuracy is below the baseline's by more than ``tolerance``.
    """
    langs = sorted(set(candidate["per_language"]) | set(baseline["per_language"]))
    per_language = {
        lang: _side_by_side(
            candidate["per_language"].get(lang, {}), baseline["per_language"].get(lang, {})
        )
        for lang in langs
    }
    for row in per_language.values():
        change = row["reward_accuracy_change"]
        row["worse"] = int(change is not None and change < -tolerance)
    rel = [r["reward_accuracy_relative_change"] for r in per_language.values()]
    rel = [r for r in rel if r is not None]
    return {
        "overall": _side_by_side(candidate["overall"], baseline["overall"]),
        "per_language": per_language,
        "mean_relative_change": sum(rel) / len(rel) if rel else None,
        "languages_worse": sum(r["worse"] for r in per_language.values()),
    }


def compare_losses(
    metrics: Mapping[str, Mapping[str, Any]],
    candidate: str,
    baseline: str,
    tolerance: float = 0.0,
    noise: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """The comparison JSON: ``<candidate>_vs_<other>`` for every other loss, and ``noise``.

    ``headline`` repeats the baseline's overall numbers under fixed key names, so
    `dvc metrics diff` follows them even when the baseline is changed in params.
    """
    for name in (candidate, baseline):
        if name not in metrics:
            raise CapoError(f"no evaluate metrics for loss {name!r} (have {sorted(metrics)})")
    out: dict[str, Any] = {}
    for other in metrics:
        if other != candidate:
            pair = compare_pair(metrics[candidate], metrics[other], tolerance)
            out[f"{candidate}_vs_{other}"] = pair
    main = out[f"{candidate}_vs_{baseline}"]
    out["headline"] = {
        "reward_accuracy_relative_change": main["overall"]["reward_accuracy_relative_change"],
        "mean_language_relative_change": main["mean_relative_change"],
        "languages_worse": main["languages_worse"],
    }
    if noise is not None:
        out["noise"] = dict(noise)
    return out
