"""The comparison report: its sentences and tables, as Markdown and as a self-contained page.

    lines = degenerate_lines(metrics) + headline(comparison, "capo", "sigmoid")
    tables = report_tables(comparison, metrics, "capo", noise=noise)
    md = render_markdown("capo vs baselines", lines, tables, figures, relative_to=Path("reports"))
    page = render_html("capo vs baselines", lines, tables, figures)   # PNGs inlined as base64

``comparison`` and ``metrics`` are evaluation/comparison.py's numbers; here they become text, with
three decimals and "n/a" for a missing value. The HTML has inline CSS and no external
resources, so it renders offline and in CI.
"""

from __future__ import annotations

import html
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from capo_pipelines.reporting.markup import (
    COMPARISON_PAGE,
    html_figure,
    html_page,
    html_table,
    markdown_table,
)

__all__ = [
    "Table",
    "degenerate_lines",
    "headline",
    "render_html",
    "render_markdown",
    "report_tables",
]


@dataclass(frozen=True)
class Table:
    """One report table, rendered to Markdown and HTML alike."""

    title: str
    header: list[str]
    rows: list[list[str]]
    note: str = ""


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


def _md_table(table: Table) -> list[str]:
    lines = [f"## {table.title}", "", *markdown_table(table.header, table.rows)]
    if table.note:
        lines += ["", table.note]
    return [*lines, ""]


def render_markdown(
    title: str,
    headline: Sequence[str],
    tables: Sequence[Table],
    figures: Sequence[Path],
    relative_to: Path | None = None,
) -> str:
    """Markdown: title, headline bullets, tables, then the figures as image links."""
    lines = [f"# {title}", "", *(f"- {line}" for line in headline), ""]
    for table in tables:
        lines += _md_table(table)
    if figures:
        lines += ["## Figures", ""]
        for fig in figures:
            link = fig.relative_to(relative_to) if relative_to else fig
            lines += [f"![{fig.stem}]({link.as_posix()})", ""]
    return "\n".join(lines).rstrip() + "\n"


def _html_table(table: Table) -> str:
    body = []
    for row in table.rows:
        cls = ' class="all"' if row and row[0] == "all" else ""
        cells = "".join(
            f'<td class="worse">{html.escape(c)}</td>'
            if c == "yes"
            else f"<td>{html.escape(c)}</td>"
            for c in row
        )
        body.append(f"<tr{cls}>{cells}</tr>")
    note = f'<p class="note">{html.escape(table.note)}</p>' if table.note else ""
    return f"<h2>{html.escape(table.title)}</h2>{html_table(table.header, body)}{note}"


def render_html(
    title: str, headline: Sequence[str], tables: Sequence[Table], figures: Sequence[Path]
) -> str:
    """A self-contained page: inline CSS, tables, PNG figures embedded as data: URIs."""
    parts = [f"<h1>{html.escape(title)}</h1>"]
    parts.append("<ul>" + "".join(f"<li>{html.escape(x)}</li>" for x in headline) + "</ul>")
    parts += [_html_table(t) for t in tables]
    if figures:
        parts.append("<h2>Figures</h2>")
        parts += [html_figure(f, f.stem, img_class="chart") for f in figures]
    return html_page(title, "".join(parts), COMPARISON_PAGE)
