"""The pull-request report as GitHub Markdown (the PR comment) and as self-contained HTML.

    md = render_markdown(report, charts, src=lambda path: f"{url}/{path.name}")
    page = render_html(report, charts)           # charts inlined as data URIs

``charts`` are (title, PNG path) pairs. In Markdown an image is linked through ``src``; when
``src`` gives None (the PNGs could not be published where GitHub can fetch them) the chart
is named instead, so the comment never shows a broken image.
Tables, figures and the page shell come from pipelines/reporting/markup.py.
"""

from __future__ import annotations

import html
import json
import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

from capo_pipelines.reporting.markup import (
    PR_PAGE,
    html_figure,
    html_page,
    html_table,
    markdown_table,
)
from capo_pipelines.reporting.pr import Cell, LossDiff, Report, Z

__all__ = ["render_html", "render_markdown"]

FLAG = "⚑"
Charts = list[tuple[str, Path]]


def _fmt(value: Any) -> str:
    if value is None:
        return "—"
    if isinstance(value, float):
        return f"{value:.3f}" if abs(value) < 1000 else f"{value:.4g}"
    return str(value)


def _pair(old: float, new: float) -> tuple[str, str]:
    """old and new with the fewest decimals (3 to 6) that tell them apart."""
    for places in range(3, 7):
        a, b = f"{old:.{places}f}", f"{new:.{places}f}"
        if a != b:
            break
    return a, b


def _values(old: Any, new: Any) -> tuple[str, str]:
    """Two metric values, with enough decimals to tell them apart when both are floats."""
    if isinstance(old, float) and isinstance(new, float) and max(abs(old), abs(new)) < 1000:
        return _pair(old, new)
    return _fmt(old), _fmt(new)


def _cell_parts(cell: Cell) -> tuple[str, str]:
    """(values, change): "0.544 → 0.612" and "+0.068"; an unchanged cell has no change."""
    if cell.old == cell.new:
        return _fmt(cell.new), ""
    if cell.old is None or cell.new is None or cell.change is None:
        return f"{_fmt(cell.old)} → {_fmt(cell.new)}", ""
    old, new = _pair(cell.old, cell.new)
    change = f"{cell.change:+.3f}" if abs(cell.change) >= 0.0005 else f"{cell.change:+.1e}"
    return f"{old} → {new}", change


def _md_cell(cell: Cell) -> str:
    values, change = _cell_parts(cell)
    if not change:
        return values
    return f"{values} (**{change}** {FLAG})" if cell.flagged else f"{values} ({change})"


def _param(value: Any) -> str:
    """A param value as params.yaml spells it (1.0 stays 1.0, a list stays a list)."""
    if value is None:
        return "—"
    return json.dumps(value) if isinstance(value, list | dict) else str(value)


def _params_md(params: dict[str, dict[str, dict[str, Any]]]) -> list[str]:
    items = [
        f"- `{key}`{'' if path == 'params.yaml' else f' ({path})'}: "
        f"{_param(d.get('old'))} → {_param(d.get('new'))}"
        for path, keys in sorted(params.items())
        for key, d in sorted(keys.items())
    ]
    return ["**Params changed**", "", *items] if items else ["No params changed."]


def _summary(report: Report) -> list[str]:
    lines = []
    for d in report.losses:
        if not d.changed:
            continue
        overall = d.rows[0].cells.get("reward_accuracy") if d.rows else None
        what = f"overall reward accuracy {_md_cell(overall)}" if overall else "metrics changed"
        lines.append(f"- **{d.loss}**: {what}; {d.flags} change(s) beyond noise")
    same = [d.loss for d in report.losses if not d.changed]
    if same:
        lines.append(f"- unchanged: {', '.join(same)}")
    return lines or ["- no per-loss metrics found (metrics/<loss>.json)"]


def _loss_table_md(d: LossDiff) -> list[str]:
    head = ["", "test pairs", *(m.label for m in d.metrics)]
    rows = [
        [
            f"**{row.group}**" if row.group == "overall" else row.group,
            _fmt(row.n),
            *(_md_cell(row.cells[m.key]) for m in d.metrics),
        ]
        for row in d.rows
    ]
    return markdown_table(head, rows, right={1})


def _legend(report: Report) -> str:
    sizes = sorted({r.n for d in report.losses if d.changed for r in d.rows if r.n})
    examples = ", ".join(
        f"±{Z * math.sqrt(0.5 / n):.3f} at {n} pairs" for n in sizes[-1:] + sizes[:1]
    )
    text = (
        f"{FLAG} the change exceeds {Z:g} standard errors of the difference (binomial, from the "
        f"row's test pairs; for rates near 0.5 that is {examples or 'n/a'}); other changes are "
        "within noise. Changes are absolute."
    )
    margins = [
        c for d in report.losses for r in d.rows for k, c in r.cells.items() if k == "reward_margin"
    ]
    if margins and all(c.se is None for c in margins):
        text += " Margins carry no flag: the metrics files have no `reward_margin_std`."
    return text


def _other_md(report: Report) -> list[str]:
    note = (
        "runtime and throughput included"
        if report.runtime_shown
        else ("runtime and throughput left out: `capo report --all` shows them")
    )
    lines = [
        f"<details><summary>Other metrics: {len(report.other)} changed ({note})</summary>",
        "",
    ]
    if report.other:
        rows = []
        for path, key, old, new in report.other:
            diff = new - old if all(isinstance(v, int | float) for v in (old, new)) else None
            rows.append(
                [path, f"`{key}`", *_values(old, new), "—" if diff is None else f"{diff:+.4g}"]
            )
        lines += markdown_table(["file", "metric", "base", "head", "change"], rows)
    return [*lines, "", "</details>"]


def _charts_md(charts: Charts, src: Callable[[Path], str | None]) -> list[str]:
    lines = []
    for title, path in charts:
        url = src(path)
        lines += [
            f"![{title}]({url})" if url else f"- {title}: `{path.name}` (in the report's files)",
            "",
        ]
    return lines


def render_markdown(
    report: Report,
    charts: Charts,
    *,
    src: Callable[[Path], str | None] = lambda path: path.name,
    head_charts: Charts = (),
) -> str:
    """GitHub-flavoured Markdown: params, summary, per-loss tables, charts, other metrics."""
    md = [f"## capo: `{report.head}` against `{report.base}`", "", *_params_md(report.params), ""]
    md += ["**Per-loss test metrics**", "", *_summary(report), ""]
    changed = [d for d in report.losses if d.changed]
    for d in changed:
        md += [f"### {d.loss}", "", *_loss_table_md(d), ""]
    if changed:
        md += [_legend(report), ""]
    same = [d for d in report.losses if not d.changed]
    if same:
        md += [f"<details><summary>Unchanged: {', '.join(d.loss for d in same)}</summary>", ""]
        for d in same:
            md += [f"#### {d.loss}", "", *_loss_table_md(d), ""]
        md += ["</details>", ""]
    md += ["### Charts", ""]
    md += _charts_md(charts, src) if charts else ["No chart: no loss's metrics changed.", ""]
    if head_charts:
        md += ["<details><summary>The comparison's charts at head</summary>", ""]
        md += [*_charts_md(list(head_charts), src), "</details>", ""]
    md += _other_md(report)
    return "\n".join(md) + "\n"


def _html_cell(cell: Cell) -> str:
    values, change = _cell_parts(cell)
    cls = ' class="flag"' if cell.flagged else ""
    mark = f" {FLAG}" if cell.flagged else ""
    extra = f' <span class="chg">({html.escape(change)}{mark})</span>' if change else ""
    return f"<td{cls}>{html.escape(values)}{extra}</td>"


def _loss_table_html(d: LossDiff) -> str:
    head = ["", "test pairs", *(m.label for m in d.metrics)]
    body = [
        f"<tr><th>{html.escape(r.group)}</th><td class='n'>{_fmt(r.n)}</td>"
        + "".join(_html_cell(r.cells[m.key]) for m in d.metrics)
        + "</tr>"
        for r in d.rows
    ]
    return f'<div class="scroll">{html_table(head, body)}</div>'


def render_html(report: Report, charts: Charts, *, head_charts: Charts = ()) -> str:
    """The same report as one self-contained HTML page (charts inlined)."""
    esc = html.escape
    parts = [
        f"<h2>capo: <code>{esc(report.head)}</code> against <code>{esc(report.base)}</code></h2>"
    ]
    params = [
        (p, k, d) for p, keys in sorted(report.params.items()) for k, d in sorted(keys.items())
    ]
    items = "".join(
        f"<li><code>{esc(k)}</code>: {esc(_param(d.get('old')))} → {esc(_param(d.get('new')))}</li>"
        for _, k, d in params
    )
    parts.append(
        f"<p><b>Params changed</b></p><ul>{items}</ul>" if items else "<p>No params changed.</p>"
    )
    summary = "".join(f"<li>{esc(line[2:]).replace('**', '')}</li>" for line in _summary(report))
    parts.append(f"<p><b>Per-loss test metrics</b></p><ul>{summary}</ul>")
    for d in report.losses:
        if d.changed:
            parts += [f"<h3>{esc(d.loss)}</h3>", _loss_table_html(d)]
    if any(d.changed for d in report.losses):
        parts.append(f'<p class="legend">{esc(_legend(report)).replace("`", "")}</p>')
    same = [d for d in report.losses if not d.changed]
    if same:
        tables = "".join(f"<h4>{esc(d.loss)}</h4>{_loss_table_html(d)}" for d in same)
        parts.append(
            f"<details><summary>Unchanged: {esc(', '.join(d.loss for d in same))}</summary>"
            f"{tables}</details>"
        )
    parts.append("<h3>Charts</h3>" + "".join(html_figure(p, t) for t, p in charts))
    if head_charts:
        figs = "".join(html_figure(p, t) for t, p in head_charts)
        parts.append(f"<details><summary>The comparison's charts at head</summary>{figs}</details>")
    rows = [
        "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>".format(
            esc(p), esc(k), *(esc(v) for v in _values(o, n))
        )
        for p, k, o, n in report.other
    ]
    table = html_table(["file", "metric", "base", "head"], rows)
    parts.append(
        f"<details><summary>Other metrics: {len(report.other)} changed</summary>"
        f"<div class='scroll'>{table}</div></details>"
    )
    title = f"capo report: {report.head} against {report.base}"
    return html_page(title, "".join(parts), PR_PAGE)
