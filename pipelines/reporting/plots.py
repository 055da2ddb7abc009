"""PNG charts of the comparison (matplotlib, Agg backend): per-language bars, training curves.

    paths = comparison_figures(metrics, comparison, "capo", Path("reports/figures"),
                               noise=noise, curves={"capo": [(5, 0.5), (10, 0.6)]})

Every chart is a pure function of plain dicts; nothing here reads pipeline files.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

__all__ = [
    "bar_by_language",
    "base_head_by_language",
    "base_head_curves",
    "comparison_figures",
    "line_curves",
]

logger = logging.getLogger(__name__)

Series = Mapping[str, Mapping[str, float | None]]


def _pyplot() -> Any:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def bar_by_language(
    series: Series,
    path: Path,
    *,
    title: str,
    ylabel: str,
    dpi: int = 110,
    zero_line: bool = False,
    percent: bool = False,
) -> Path:
    """Grouped bars: one group per language ("all" last), one bar per series; None is a gap."""
    plt = _pyplot()
    langs = sorted({lang for values in series.values() for lang in values} - {"all"})
    if any("all" in values for values in series.values()):
        langs.append("all")
    width = 0.8 / max(len(series), 1)
    fig, ax = plt.subplots(figsize=(max(6.0, 0.7 * len(langs) * max(len(series), 1) ** 0.5), 3.8))
    for i, (name, values) in enumerate(series.items()):
        xs = [j + (i - (len(series) - 1) / 2) * width for j in range(len(langs))]
        ys = [values.get(lang) for lang in langs]
        ax.bar(xs, [float("nan") if y is None else y for y in ys], width=width, label=name)
    ax.set_xticks(range(len(langs)), langs)
    if zero_line:
        ax.axhline(0.0, color="#444", linewidth=0.8)
    if percent:
        from matplotlib.ticker import PercentFormatter

        ax.yaxis.set_major_formatter(PercentFormatter(1.0))
    ax.set(title=title, ylabel=ylabel, xlabel="language")
    _legend(ax)
    return _save(fig, path, dpi)


def _legend(ax: Any) -> None:
    """Legend outside the axes, on the right, so it never hides a bar or a line."""
    ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False)


def line_curves(
    curves: Mapping[str, Sequence[tuple[float, float]]],
    path: Path,
    *,
    title: str,
    xlabel: str,
    ylabel: str,
    dpi: int = 110,
) -> Path:
    """One line per curve, points sorted by x."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(6.4, 3.8))
    for name, points in curves.items():
        pts = sorted(points)
        ax.plot([p[0] for p in pts], [p[1] for p in pts], marker=".", label=name)
    ax.set(title=title, xlabel=xlabel, ylabel=ylabel)
    _legend(ax)
    return _save(fig, path, dpi)


def base_head_by_language(
    groups: Sequence[str],
    base: Sequence[float | None],
    head: Sequence[float | None],
    half_widths: Sequence[float | None],
    path: Path,
    *,
    title: str,
    xlabel: str,
    dpi: int = 110,
) -> Path:
    """Left: base and head per group (language); right: head - base with its noise band.

    ``half_widths`` are the noise half-widths (e.g. 2 standard errors) drawn as error bars;
    a change outside its band is drawn dark, one inside it light.
    """
    plt = _pyplot()
    ys = list(range(len(groups)))[::-1]  # first group on top
    fig, (left, right) = plt.subplots(
        1, 2, figsize=(9.0, 0.75 + 0.32 * len(groups)), sharey=True, width_ratios=(3, 2)
    )
    nan = float("nan")
    for offset, name, values in ((0.2, "base", base), (-0.2, "head", head)):
        left.barh(
            [y + offset for y in ys], [nan if v is None else v for v in values], 0.4, label=name
        )
    left.set(yticks=ys, yticklabels=list(groups), xlabel=xlabel)
    left.legend(fontsize=8, ncol=2, loc="lower left", bbox_to_anchor=(0.0, 1.0), frameon=False)
    fig.suptitle(title, fontsize=11)
    changes = [nan if b is None or h is None else h - b for b, h in zip(base, head, strict=True)]
    errs = [0.0 if e is None else e for e in half_widths]
    colors = [
        "#0b5394" if abs(c) > e and e > 0 else "#9fc5e8" for c, e in zip(changes, errs, strict=True)
    ]
    right.barh(ys, changes, 0.6, xerr=errs, color=colors, error_kw={"ecolor": "#555", "capsize": 2})
    right.axvline(0.0, color="#444", linewidth=0.8)
    right.set(xlabel="head - base, ±2 standard errors", title="change (dark: beyond noise)")
    return _save(fig, path, dpi)


def base_head_curves(
    curves: Mapping[str, Mapping[str, Sequence[tuple[float, float]]]],
    path: Path,
    *,
    title: str,
    xlabel: str,
    ylabel: str,
    dpi: int = 110,
) -> Path:
    """One panel per loss, a line per revision: ``curves[loss][revision] = [(x, y), ...]``.

    The first revision (base) is drawn dashed and wide, so a head line on top of it shows.
    """
    plt = _pyplot()
    fig, axes = plt.subplots(1, len(curves), figsize=(4.2 * len(curves) + 1.0, 3.2), squeeze=False)
    for ax, (loss, revisions) in zip(axes[0], curves.items(), strict=True):
        for i, (revision, points) in enumerate(revisions.items()):
            pts = sorted(points)
            style = {"linestyle": "--", "linewidth": 2.5, "alpha": 0.7} if i == 0 else {}
            ax.plot([p[0] for p in pts], [p[1] for p in pts], marker=".", label=revision, **style)
        ax.set(title=f"{loss}: {title}", xlabel=xlabel, ylabel=ylabel)
        ax.legend(fontsize=8)
    return _save(fig, path, dpi)


def _save(fig: Any, path: Path, dpi: int) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.tight_layout()
    fig.savefig(path, dpi=dpi, format="png")
    _pyplot().close(fig)
    logger.info("chart %s", path)
    return path


def _metric(metrics: Mapping[str, Mapping[str, Any]], key: str) -> dict[str, dict]:
    return {
        loss: {
            **{lang: v.get(key) for lang, v in doc["per_language"].items()},
            "all": doc["overall"].get(key),
        }
        for loss, doc in metrics.items()
    }


def _gain_series(comparison: Mapping[str, Any], candidate: str) -> dict[str, dict]:
    prefix = f"{candidate}_vs_"
    return {
        f"vs {name.removeprefix(prefix)}": {
            **{
                lang: r["reward_accuracy_relative_change"]
                for lang, r in pair["per_language"].items()
            },
            "all": pair["overall"]["reward_accuracy_relative_change"],
        }
        for name, pair in comparison.items()
        if name.startswith(prefix)
    }


def _noise_series(noise: Mapping[str, Any]) -> dict[str, dict]:
    groups = {**noise["per_language"], "all": noise["overall"]}
    return {
        "flipped pairs": {lang: v["flipped_mean_w"] for lang, v in groups.items()},
        "clean pairs": {lang: v["clean_mean_w"] for lang, v in groups.items()},
    }


def comparison_figures(
    metrics: Mapping[str, Mapping[str, Any]],
    comparison: Mapping[str, Any],
    candidate: str,
    out_dir: Path,
    *,
    noise: Mapping[str, Any] | None = None,
    curves: Mapping[str, Sequence[tuple[float, float]]] | None = None,
    dpi: int = 110,
) -> list[Path]:
    """Write the report's charts to ``out_dir``; returns their paths in report order."""
    out_dir = Path(out_dir)
    paths = [
        bar_by_language(
            _metric(metrics, "reward_accuracy"),
            out_dir / "reward_accuracy_by_language.png",
            title="Test reward accuracy by language",
            ylabel="reward accuracy",
            dpi=dpi,
        ),
        bar_by_language(
            _gain_series(comparison, candidate),
            out_dir / "reward_accuracy_gain_by_language.png",
            title=f"Relative change in reward accuracy of {candidate}",
            ylabel="relative change",
            dpi=dpi,
            zero_line=True,
            percent=True,
        ),
    ]
    generation = _metric(metrics, "generation_accuracy")
    reference = metrics[candidate].get("reference")
    if reference:
        generation["reference policy"] = _metric({"r": reference}, "generation_accuracy")["r"]
    paths.append(
        bar_by_language(
            generation,
            out_dir / "generation_accuracy_by_language.png",
            title="Greedy generation accuracy by language",
            ylabel="generation accuracy",
            dpi=dpi,
        )
    )
    if noise:
        paths.append(
            bar_by_language(
                _noise_series(noise),
                out_dir / "noise_weights.png",
                title=f"Mean {candidate} weight w of training pairs",
                ylabel="mean w",
                dpi=dpi,
            )
        )
    if curves:
        paths.append(
            line_curves(
                curves,
                out_dir / "training_reward_accuracy.png",
                title="Training reward accuracy",
                xlabel="step",
                ylabel="rewards/accuracies",
                dpi=dpi,
            )
        )
    return paths
