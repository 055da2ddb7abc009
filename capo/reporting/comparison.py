"""Render the comparison report as Markdown and as a self-contained HTML page.

    md = render_markdown("capo vs baselines", lines, tables, figures, relative_to=Path("reports"))
    page = render_html("capo vs baselines", lines, tables, figures)   # PNGs inlined as base64

The HTML has inline CSS and no external resources, so it renders offline and in CI.
"""

from __future__ import annotations

import base64
import html
from collections.abc import Sequence
from pathlib import Path

from capo.compare import Table

__all__ = ["markdown_table", "render_html", "render_markdown"]

_STYLE = (
    "body{font-family:system-ui,sans-serif;max-width:72rem;margin:2rem auto;padding:0 1rem;"
    "color:#222}h1{font-size:1.6rem}h2{font-size:1.2rem;margin-top:2rem}"
    "table{border-collapse:collapse;margin:.5rem 0;font-size:.9rem}"
    "th,td{border:1px solid #ccc;padding:.25rem .6rem;text-align:right}"
    "th:first-child,td:first-child{text-align:left}thead th{background:#f2f2f2}"
    "tr.all td{font-weight:600}td.worse{color:#b00020;font-weight:600}"
    "figure{margin:1rem 0}img{max-width:100%;height:auto;border:1px solid #eee}"
    "p.note{color:#555;font-size:.85rem}"
)


def _md_cell(text: str) -> str:
    return str(text).replace("|", "\\|")


def markdown_table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> list[str]:
    """A GitHub Markdown table's lines, pipes in cells escaped."""
    lines = ["| " + " | ".join(_md_cell(h) for h in header) + " |"]
    lines.append("|" + "|".join("---" for _ in header) + "|")
    return lines + ["| " + " | ".join(_md_cell(c) for c in row) + " |" for row in rows]


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
    head = "".join(f"<th>{html.escape(h)}</th>" for h in table.header)
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
    return (
        f"<h2>{html.escape(table.title)}</h2>"
        f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>{note}"
    )


def _html_figure(path: Path) -> str:
    data = base64.b64encode(path.read_bytes()).decode("ascii")
    alt = html.escape(path.stem)
    return (
        f'<figure><img class="chart" alt="{alt}" src="data:image/png;base64,{data}">'
        f"<figcaption>{alt}</figcaption></figure>"
    )


def render_html(
    title: str, headline: Sequence[str], tables: Sequence[Table], figures: Sequence[Path]
) -> str:
    """A self-contained page: inline CSS, tables, PNG figures embedded as data: URIs."""
    parts = [f"<h1>{html.escape(title)}</h1>"]
    parts.append("<ul>" + "".join(f"<li>{html.escape(x)}</li>" for x in headline) + "</ul>")
    parts += [_html_table(t) for t in tables]
    if figures:
        parts.append("<h2>Figures</h2>")
        parts += [_html_figure(f) for f in figures]
    return (
        "<!doctype html>\n<html lang='en'><head><meta charset='utf-8'>"
        f"<title>{html.escape(title)}</title><style>{_STYLE}</style></head>"
        f"<body>{''.join(parts)}</body></html>\n"
    )
