"""The noise study's report: means with 95% intervals over seeds, paired differences, a chart.

summary = summarize_study(result)          # numbers only (reports/noise_study.json)
text = study_markdown(result, summary)      # reports/noise_study.md
study_figure(summary, "reports/figures/noise_study.png")
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from capo.study.stats import Estimate, mean_ci, metric_of, paired_ci

__all__ = ["KEY_METRICS", "study_figure", "study_markdown", "summarize_study"]

KEY_METRICS = ("reward_accuracy", "reward_margin", "generation_accuracy", "empty_rate")


def _runs(result: Mapping[str, Any], loss: str, noise: float) -> list[dict[str, Any]]:
    return [r for r in result["runs"] if r["loss"] == loss and r["noise"] == noise]


def _languages(result: Mapping[str, Any]) -> list[str]:
    return sorted({lang for r in result["runs"] for lang in r.get("per_language", {})})


def summarize_study(result: Mapping[str, Any], baseline: str) -> dict[str, Any]:
    """{"means": {loss: {noise: {metric: est}}}, "paired": {loss: {noise: {...}}}} as dicts.

    ``paired`` holds loss - baseline over matched seeds, overall (every KEY_METRIC) and per
    language (reward accuracy).
    """
    losses = list(dict.fromkeys(r["loss"] for r in result["runs"]))
    levels = sorted({r["noise"] for r in result["runs"]})
    means: dict[str, Any] = {}
    paired: dict[str, Any] = {}
    for loss, noise in ((x, n) for x in losses for n in levels):
        runs, base = _runs(result, loss, noise), _runs(result, baseline, noise)
        key = f"{noise:g}"
        means.setdefault(loss, {})[key] = {
            m: mean_ci(metric_of(r, m) for r in runs).as_dict() for m in KEY_METRICS
        } | {
            "per_language": {
                lang: mean_ci(metric_of(r, "reward_accuracy", lang) for r in runs).as_dict()
                for lang in _languages(result)
            }
        }
        if loss != baseline:
            paired.setdefault(loss, {})[key] = {
                m: paired_ci(runs, base, m).as_dict() for m in KEY_METRICS
            } | {
                "per_language": {
                    lang: paired_ci(runs, base, "reward_accuracy", lang).as_dict()
                    for lang in _languages(result)
                }
            }
    return {"baseline": baseline, "levels": levels, "means": means, "paired": paired}


def _est(d: Mapping[str, Any], signed: bool = False) -> str:
    e = Estimate(**d)
    if e.n == 0:
        return "n/a"
    mean = f"{e.mean:+.3f}" if signed else f"{e.mean:.3f}"
    if e.low is None:
        return mean
    mark = " *" if signed and e.excludes_zero() else ""
    return (
        f"{mean} [{e.low:+.3f}, {e.high:+.3f}]{mark}"
        if signed
        else (f"{mean} [{e.low:.3f}, {e.high:.3f}]")
    )


def _table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    return [*lines, *("| " + " | ".join(row) + " |" for row in rows), ""]


def _means_table(summary: Mapping[str, Any], metric: str) -> list[str]:
    levels = [f"{x:g}" for x in summary["levels"]]
    rows = [
        [loss, *(_est(by_noise[lvl][metric]) for lvl in levels)]
        for loss, by_noise in summary["means"].items()
    ]
    return _table(["loss", *(f"noise {lvl}" for lvl in levels)], rows)


def _paired_table(summary: Mapping[str, Any], metric: str) -> list[str]:
    levels = [f"{x:g}" for x in summary["levels"]]
    rows = [
        [f"{loss} - {summary['baseline']}", *(_est(d[lvl][metric], True) for lvl in levels)]
        for loss, d in summary["paired"].items()
    ]
    return _table(["difference", *(f"noise {lvl}" for lvl in levels)], rows)


def _language_table(summary: Mapping[str, Any], loss: str) -> list[str]:
    levels = [f"{x:g}" for x in summary["levels"]]
    per = summary["paired"][loss]
    langs = sorted(per[levels[0]]["per_language"])
    rows = [
        [lang, *(_est(per[lvl]["per_language"][lang], True) for lvl in levels)] for lang in langs
    ]
    return _table(["language", *(f"noise {lvl}" for lvl in levels)], rows)


def study_markdown(
    result: Mapping[str, Any], summary: Mapping[str, Any], candidate: str, figure: str | None
) -> str:
    """The study as Markdown: settings, means with intervals, paired differences."""
    base, seeds = summary["baseline"], sorted({r["seed"] for r in result["runs"]})
    lines = [
        "# Label-noise study: CAPO against the baselines",
        "",
        f"Every loss trained from the same SFT policy per seed (seeds {seeds}), on the built-in",
        "benchmark's training pairs with a share `noise` of the learnable (same-language) pairs",
        "corrupted, and measured on the clean test split (questions held out of training).",
        "Cells: mean over seeds [95% Student-t interval]. Differences are paired by seed;",
        "`*` marks an interval that excludes 0. Settings were chosen on the validation split.",
        "",
        "## Settings chosen on the validation split",
        "",
        *_table(["loss", "settings"], [[k, str(v or "-")] for k, v in result["settings"].items()]),
        "## Test reward accuracy",
        "",
        *_means_table(summary, "reward_accuracy"),
        f"## Paired difference in test reward accuracy (loss - {base})",
        "",
        *_paired_table(summary, "reward_accuracy"),
        f"## {candidate} - {base} in test reward accuracy, per language",
        "",
        *_language_table(summary, candidate),
    ]
    for metric in ("reward_margin", "generation_accuracy", "empty_rate"):
        lines += [f"## Test {metric.replace('_', ' ')}", "", *_means_table(summary, metric)]
    policy = mean_ci(p.get("generation_accuracy") for p in result.get("policies", []))
    lines += [
        f"The SFT policies (the reference) answer {_est(policy.as_dict())} of the test",
        "questions correctly (greedy, exact match).",
        "",
    ]
    if figure:
        lines += [f"![Test reward accuracy against label noise]({figure})", ""]
    return "\n".join(lines)


def _errorbars(ax: Any, levels: list[float], ests: list[Estimate], i: int, label: str) -> None:
    xs = [x + (i - 2) * 0.004 for x in levels]  # dodge overlapping error bars
    ys = [e.mean for e in ests]
    err = [
        [e.mean - (e.low if e.low is not None else e.mean) for e in ests],
        [(e.high if e.high is not None else e.mean) - e.mean for e in ests],
    ]
    ax.errorbar(xs, ys, yerr=err, marker="o", capsize=3, label=label, color=f"C{i}")


def study_figure(summary: Mapping[str, Any], path: str | Path, dpi: int = 110) -> Path:
    """Left: reward accuracy against noise, one line per loss; right: each loss minus the
    baseline, paired by seed. Error bars: the 95% intervals over seeds."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    levels, base = summary["levels"], summary["baseline"]
    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4.2))
    losses = list(summary["means"])
    for i, loss in enumerate(losses):
        by_noise = summary["means"][loss]
        ests = [Estimate(**by_noise[f"{x:g}"]["reward_accuracy"]) for x in levels]
        _errorbars(left, levels, ests, i, loss)
        if loss in summary["paired"]:
            paired = summary["paired"][loss]
            diffs = [Estimate(**paired[f"{x:g}"]["reward_accuracy"]) for x in levels]
            _errorbars(right, levels, diffs, i, f"{loss} - {base}")
    right.axhline(0.0, color="black", linewidth=0.8)
    left.set_ylabel("test reward accuracy")
    left.set_title("Reward accuracy (mean, 95% CI over seeds)")
    right.set_ylabel(f"difference to {base} (reward accuracy)")
    right.set_title(f"Paired by seed: loss - {base} (95% CI)")
    for ax in (left, right):
        ax.set_xlabel("label noise (share of learnable training pairs corrupted)")
        ax.set_xticks(levels)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    fig.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=dpi, metadata={"Software": None})
    plt.close(fig)
    return path
