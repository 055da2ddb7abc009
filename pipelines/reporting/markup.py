"""Markdown and HTML pieces shared by the comparison report, the PR report and the study report.

    lines = markdown_table(["language", "acc"], [["de", "0.910"]])      # GitHub Markdown
    table = html_table(["language", "acc"], ["<tr><td>de</td><td>0.910</td></tr>"])
    figure = html_figure(Path("reports/figures/gain.png"), "gain")     # PNG as a data: URI
    page = html_page("capo against the baselines", table + figure, COMPARISON_PAGE)

Markdown cells have their pipes escaped and line breaks turned into ``<br>``, so a cell never
breaks its table. HTML text goes through ``html.escape``; ``html_table`` escapes the header,
the caller escapes its own rows. The comparison and PR pages keep their own stylesheets
(``COMPARISON_PAGE``, ``PR_PAGE``): their layouts differ (right-aligned numbers against
nowrap cells, other class names), and one page function builds both.
"""

from __future__ import annotations

import base64
import html
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from pathlib import Path

__all__ = [
    "COMPARISON_PAGE",
    "PR_PAGE",
    "PageStyle",
    "html_figure",
    "html_page",
    "html_table",
    "markdown_cell",
    "markdown_table",
    "png_data_uri",
]


def markdown_cell(text: object) -> str:
    """``text`` as one Markdown table cell: pipes escaped, line breaks as ``<br>``."""
    value = str(text).replace("|", "\\|")
    return value.replace("\r\n", "<br>").replace("\n", "<br>").replace("\r", "<br>")


def markdown_table(
    header: Sequence[str], rows: Sequence[Sequence[str]], right: Collection[int] = ()
) -> list[str]:
    """A GitHub Markdown table's lines; the columns whose index is in ``right`` align right."""

    def line(cells: Sequence[str]) -> str:
        return "| " + " | ".join(markdown_cell(c) for c in cells) + " |"

    rule = "|" + "|".join("--:" if i in right else "---" for i in range(len(header))) + "|"
    return [line(header), rule, *(line(row) for row in rows)]


def html_table(header: Sequence[str], rows: Sequence[str]) -> str:
    """A table with one header row (escaped here) and ``rows``, each a finished ``<tr>``."""
    head = "".join(f"<th>{html.escape(h)}</th>" for h in header)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(rows)}</tbody></table>"


def png_data_uri(path: Path) -> str:
    """The PNG file at ``path`` as a ``data:image/png;base64,...`` URI."""
    return "data:image/png;base64," + base64.b64encode(Path(path).read_bytes()).decode("ascii")


def html_figure(path: Path, caption: str, img_class: str | None = None) -> str:
    """A ``<figure>`` with the PNG inlined and ``caption`` as both alt text and caption."""
    alt = html.escape(caption)
    cls = f' class="{img_class}"' if img_class else ""
    img = f'<img{cls} alt="{alt}" src="{png_data_uri(path)}">'
    return f"<figure>{img}<figcaption>{alt}</figcaption></figure>"


@dataclass(frozen=True)
class PageStyle:
    """How one report's HTML page looks: its stylesheet and the few head details it sets."""

    css: str
    lang: str | None = None  # the <html lang=...> attribute
    viewport: bool = False  # a viewport <meta>, for phones
    newlines: bool = False  # a line break after the doctype and at the end of the page


COMPARISON_PAGE = PageStyle(
    css=(
        "body{font-family:system-ui,sans-serif;max-width:72rem;margin:2rem auto;padding:0 1rem;"
        "color:#222}h1{font-size:1.6rem}h2{font-size:1.2rem;margin-top:2rem}"
        "table{border-collapse:collapse;margin:.5rem 0;font-size:.9rem}"
        "th,td{border:1px solid #ccc;padding:.25rem .6rem;text-align:right}"
        "th:first-child,td:first-child{text-align:left}thead th{background:#f2f2f2}"
        "tr.all td{font-weight:600}td.worse{color:#b00020;font-weight:600}"
        "figure{margin:1rem 0}img{max-width:100%;height:auto;border:1px solid #eee}"
        "p.note{color:#555;font-size:.85rem}"
    ),
    lang="en",
    newlines=True,
)

PR_PAGE = PageStyle(
    css="""
body{font:14px/1.45 system-ui,sans-serif;max-width:76rem;margin:1.5rem auto;padding:0 1rem}
h2{border-bottom:1px solid #d0d7de;padding-bottom:.3rem}
.scroll{overflow-x:auto;margin:.5rem 0 1rem}
table{border-collapse:collapse;font-variant-numeric:tabular-nums}
td,th{border:1px solid #d0d7de;padding:.25rem .55rem;white-space:nowrap;text-align:left}
th{background:#f6f8fa} td.n{text-align:right}
td.flag{background:#fff8c5;font-weight:600} .chg{color:#57606a}
figure{margin:1rem 0} img{max-width:100%;border:1px solid #d0d7de}
.legend{color:#57606a;font-size:13px} summary{cursor:pointer;font-weight:600}
""",
    viewport=True,
)


def html_page(title: str, body: str, style: PageStyle) -> str:
    """A self-contained page: ``body`` (finished HTML) under ``title`` with inline CSS."""
    end = "\n" if style.newlines else ""
    lang = f" lang='{style.lang}'" if style.lang else ""
    viewport = (
        "<meta name='viewport' content='width=device-width,initial-scale=1'>"
        if style.viewport
        else ""
    )
    return (
        f"<!doctype html>{end}<html{lang}><head><meta charset='utf-8'>{viewport}"
        f"<title>{html.escape(title)}</title><style>{style.css}</style></head>"
        f"<body>{body}</body></html>{end}"
    )
