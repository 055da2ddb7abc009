"""Render the comparison report as Markdown and as a self-contained HTML page.

    md = render_markdown("capo vs baselines", lines, tables, figures, relative_to=Path("reports"))
    page = render_html("capo vs baselines", lines, tables, figures)   # PNGs inlined as base64

The HTML has inline CSS and no external resources, so it renders offline and in CI.
"""

from __future__ import annotations

import html
from collections.abc import Sequence
from pathlib import Path

from capo.compare import Table
from capo.reporting.markup import (
    COMPARISON_PAGE,
    html_figure,
    html_page,
    html_table,
    markdown_table,
)

__all__ = ["render_html", "render_markdown"]


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
