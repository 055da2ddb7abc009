"""CAPO against each baseline per language: the comparison JSON and the report's tables.

    metrics = load_metrics(Path("metrics"), ["capo", "sigmoid", "ipo", "robust"])
    comparison = compare_losses(metrics, "capo", baseline="sigmoid")
    tables = report_tables(comparison, metrics, "capo", noise=noise_weights(train, weights))

Input documents are the evaluate stage's ``metrics/<loss>.json``. Relative changes are
``(capo - baseline) / |baseline|`` (None for a zero baseline); a language is *worse* when
CAPO's reward accuracy trails the baseline's by more than ``tolerance``.
"""

from __future__ import annotations

import json
import logging
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from capo.errors import CapoError
from capo.evaluation.metrics import relative_change
from capo.params import Params

__all__ = [
    "METRICS",
    "Table",
    "compare_losses",
    "compare_pair",
    "compared_losses",
    "headline",
    "load_metrics",
    "read_curves",
    "report_tables",
]

logger = logging.getLogger(__name__)

METRICS = ("reward_accuracy", "reward_margin", "generation_accuracy", "language_fidelity")


@dataclass(frozen=True)
class Table:
    """One report table, rendered to Markdown and HTML alike (capo/reporting/comparison.py)."""

    title: str
    header: list[str]
    rows: list[list[str]]
    note: str = ""


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


def _f(value: Any, digits: int = 3) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "n/a"
    return f"{value:.{digits}f}" if isinstance(value, float) else str(value)


def _pct(value: float | None) -> str:
    return "n/a" if value is None else f"{value:+.1%}"


def headline(comparison: Mapping[str, Any], candidate: str, baseline: str) -> list[str]:
    """The report's opening sentences: the gain over the baseline, margins, worse languages."""
    main = comparison[f"{candidate}_vs_{baseline}"]
    o = main["overall"]
    worse = [lang for lang, r in main["per_language"].items() if r["worse"]]
    counted = sum(
        r["reward_accuracy_relative_change"] is not None for r in main["per_language"].values()
    )
    lines = [
        f"Reward accuracy of {candidate}: {_f(o['reward_accuracy'])} against "
        f"{_f(o['baseline_reward_accuracy'])} for {baseline} "
        f"({_pct(o['reward_accuracy_relative_change'])} relative, overall).",
        f"Mean relative change over the {counted} languages with a non-zero baseline: "
        f"{_pct(main['mean_relative_change'])}.",
        f"Mean reward margin: {_f(o['reward_margin'])} ({candidate}) against "
        f"{_f(o['baseline_reward_margin'])} ({baseline}).",
        "Languages where it is worse: " + (", ".join(worse) if worse else "none") + ".",
    ]
    return lines


def degenerate_lines(metrics: Mapping[str, Mapping[str, Any]]) -> list[str]:
    """One warning per model the evaluate stage found degenerate (health block)."""
    return [
        f"WARNING: {loss} is degenerate: {'; '.join(doc['health']['reasons'])}. Its reward "
        "accuracy says nothing about its answers."
        for loss, doc in metrics.items()
        if doc.get("health", {}).get("degenerate")
    ]


def _pair_table(name: str, pair: Mapping[str, Any], candidate: str) -> Table:
    c, b = candidate, name.split("_vs_", 1)[1]
    header = [
        "language",
        f"{c} acc",
        f"{b} acc",
        "rel. change",
        f"{c} margin",
        f"{b} margin",
        f"{c} gen acc",
        f"{b} gen acc",
        f"{c} fidelity",
        f"{b} fidelity",
        "worse",
    ]
    groups = [*pair["per_language"].items(), ("all", pair["overall"])]
    rows = [
        [
            lang,
            _f(r["reward_accuracy"]),
            _f(r["baseline_reward_accuracy"]),
            _pct(r["reward_accuracy_relative_change"]),
            _f(r["reward_margin"]),
            _f(r["baseline_reward_margin"]),
            _f(r["generation_accuracy"]),
            _f(r["baseline_generation_accuracy"]),
            _f(r["language_fidelity"]),
            _f(r["baseline_language_fidelity"]),
            "yes" if r.get("worse") else "",
        ]
        for lang, r in groups
    ]
    return Table(f"{c} against {b}", header, rows)


def _overview(metrics: Mapping[str, Mapping[str, Any]]) -> Table:
    losses = list(metrics)
    langs = sorted({lang for doc in metrics.values() for lang in doc["per_language"]})
    rows = [
        [
            lang,
            *(_f(metrics[x]["per_language"].get(lang, {}).get("reward_accuracy")) for x in losses),
        ]
        for lang in langs
    ]
    rows.append(["all", *(_f(metrics[x]["overall"].get("reward_accuracy")) for x in losses)])
    return Table("Reward accuracy of every loss", ["language", *losses], rows)


def _health_table(metrics: Mapping[str, Mapping[str, Any]]) -> Table:
    keys = ("generation_accuracy", "language_fidelity", "empty_rate")
    rows = [
        [
            loss,
            *(_f(doc["overall"].get(k)) for k in keys),
            _f(doc.get("reference", {}).get("overall", {}).get("generation_accuracy")),
            "DEGENERATE" if doc.get("health", {}).get("degenerate") else "ok",
        ]
        for loss, doc in metrics.items()
    ]
    note = (
        "Greedy answers on the test prompts. A model is degenerate when it answers empty too "
        "often or falls below the policy's generation accuracy or fidelity by more than "
        "evaluate.max_generation_drop (params.yaml)."
    )
    header = ["loss", *keys, "policy generation_accuracy", "health"]
    return Table("Does every model still answer?", header, rows, note)


def _reference_table(doc: Mapping[str, Any]) -> Table | None:
    ref = doc.get("reference")
    if not ref:
        return None
    keys = ["generation_accuracy", "language_fidelity", "gold_language_fidelity"]
    groups = [*sorted(ref["per_language"].items()), ("all", ref["overall"])]
    rows = [[lang, *(_f(v.get(k)) for k in keys), _f(v.get("verifiable"))] for lang, v in groups]
    note = "gold fidelity: the gold answers' own language fidelity, the detector's ceiling."
    return Table(
        "Reference policy (models/policy), for context",
        ["language", *keys, "verifiable"],
        rows,
        note,
    )


def _noise_table(noise: Mapping[str, Any], candidate: str) -> Table:
    keys = ["flipped_pairs", "clean_pairs", "flipped_mean_w", "clean_mean_w", "weight_ratio"]
    groups = [*sorted(noise["per_language"].items()), ("all", noise["overall"])]
    rows = [[lang, *(_f(v.get(k)) for k in keys)] for lang, v in groups]
    note = (
        f"Mean {candidate} weight w of training pairs with swapped labels (label_flipped) "
        "against clean pairs; a ratio below 1 means flipped pairs pulled less."
    )
    return Table(
        "Noise analysis: CAPO weights of flipped and clean pairs", ["language", *keys], rows, note
    )


def report_tables(
    comparison: Mapping[str, Any],
    metrics: Mapping[str, Mapping[str, Any]],
    candidate: str,
    noise: Mapping[str, Any] | None = None,
) -> list[Table]:
    """Overview, one table per baseline, the reference's generation, the noise analysis."""
    tables = [_health_table(metrics), _overview(metrics)]
    tables += [
        _pair_table(name, pair, candidate)
        for name, pair in comparison.items()
        if name.startswith(f"{candidate}_vs_")
    ]
    ref = _reference_table(metrics[candidate])
    tables += [ref] if ref else []
    tables += [_noise_table(noise, candidate)] if noise else []
    return tables
