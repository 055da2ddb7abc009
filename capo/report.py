"""A pull-request report from DVC's params/metrics/plots diffs: Markdown, HTML and PNG charts.

Pure functions over the JSON that `dvc params diff --json`, `dvc metrics diff --json` and
`dvc plots diff --json --split` print; running DVC is the caller's job (pipelines/report.py).
"""

from __future__ import annotations

import base64
import html
import re
from collections import defaultdict
from pathlib import Path
from typing import Any

__all__ = ["build_report", "metrics_table", "params_table", "render_plots"]


def _fmt(value: Any) -> str:
    if value is None:
        return "—"
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


def _change(old: Any, new: Any, diff: Any) -> str:
    if not isinstance(diff, int | float) or isinstance(diff, bool):
        return "—" if old == new else "changed"
    rel = f" ({diff / old:+.1%})" if isinstance(old, int | float) and old else ""
    return f"{diff:+.4g}{rel}"


def params_table(params_diff: dict[str, dict[str, dict]]) -> str:
    """Markdown table of changed params: file, key, base, workspace."""
    rows = [
        f"| {path} | `{key}` | {_fmt(d.get('old'))} | {_fmt(d.get('new'))} |"
        for path, keys in sorted(params_diff.items())
        for key, d in sorted(keys.items())
    ]
    if not rows:
        return "No parameter changed."
    return "\n".join(["| file | param | base | workspace |", "|---|---|---|---|", *rows])


def metrics_table(metrics_diff: dict[str, dict[str, dict]]) -> str:
    """Markdown table of metrics with their change, largest absolute change first."""
    entries = [
        (path, key, d.get("old"), d.get("new"), d.get("diff"))
        for path, keys in metrics_diff.items()
        for key, d in keys.items()
    ]
    if not entries:
        return "No metric changed."
    entries.sort(key=lambda e: (-abs(e[4]) if isinstance(e[4], int | float) else 0, e[0], e[1]))
    rows = [
        f"| {path} | `{key}` | {_fmt(old)} | {_fmt(new)} | {_change(old, new, diff)} |"
        for path, key, old, new, diff in entries
    ]
    return "\n".join(
        ["| file | metric | base | workspace | change |", "|---|---|---|---|---|", *rows]
    )


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", text).strip("_") or "plot"


def _field(node: Any, axis: str) -> str | None:
    """The first ``encoding.<axis>.field`` in a Vega-Lite spec, searching layers too."""
    if isinstance(node, dict):
        found = node.get("encoding", {}).get(axis, {})
        if isinstance(found, dict) and isinstance(found.get("field"), str):
            return found["field"]
        children = node.values()
    elif isinstance(node, list):
        children = node
    else:
        return None
    for child in children:
        if (field := _field(child, axis)) is not None:
            return field
    return None


def _numeric(rows: list[dict], field: str | None) -> bool:
    try:
        return bool(rows) and all(isinstance(float(r[field]), float) for r in rows)
    except (KeyError, TypeError, ValueError):
        return False


def _draw(ax: Any, spec: dict[str, Any]) -> None:
    anchors = spec.get("anchor_definitions", {})
    rows = anchors.get("<DVC_METRIC_DATA>", [])
    x, y = _field(spec["content"], "x"), _field(spec["content"], "y")
    mark = spec["content"].get("mark", "line")
    kind = mark.get("type") if isinstance(mark, dict) else mark
    by_rev: dict[str, list[dict]] = defaultdict(list)
    for row in rows:
        by_rev[row.get("rev", "workspace")].append(row)
    if kind == "bar":
        # the numeric field is the bar length, whatever the template calls x and y
        cat, val = (y, x) if _numeric(rows, x) and not _numeric(rows, y) else (x, y)
        cats = sorted({str(r[cat]) for r in rows})
        width = 0.8 / max(len(by_rev), 1)
        for i, (rev, rs) in enumerate(by_rev.items()):
            values = {str(r[cat]): float(r[val]) for r in rs}
            xs = [j + i * width for j in range(len(cats))]
            ax.bar(xs, [values.get(c, 0.0) for c in cats], width=width, label=rev)
        ax.set_xticks([j + width * (len(by_rev) - 1) / 2 for j in range(len(cats))], cats)
        ax.set_xlabel(cat)
        ax.set_ylabel(val)
    else:
        for rev, rs in by_rev.items():
            rs = sorted(rs, key=lambda r: float(r[x]))
            ax.plot([float(r[x]) for r in rs], [float(r[y]) for r in rs], label=rev)
        ax.set_xlabel(x)
        ax.set_ylabel(y)
    ax.legend(fontsize=8)


def render_plots(plots_json: dict[str, Any], out_dir: Path) -> list[Path]:
    """Draw each plot of `dvc plots diff --json --split` to a PNG, revisions overlaid."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out_dir.mkdir(parents=True, exist_ok=True)
    paths = []
    for plot_id, specs in sorted(plots_json.get("data", {}).items()):
        for k, spec in enumerate(s for s in specs if s.get("type") == "vega"):
            fig, ax = plt.subplots(figsize=(6, 3.6), dpi=100)
            _draw(ax, spec)
            ax.set_title(plot_id, fontsize=9)
            fig.tight_layout()
            path = out_dir / f"{_slug(plot_id)}{'_' + str(k) if k else ''}.png"
            fig.savefig(path)
            plt.close(fig)
            paths.append(path)
    return paths


def build_report(
    params_diff: dict,
    metrics_diff: dict,
    images: list[Path],
    *,
    base: str,
    title: str = "capo: pipeline changes",
) -> tuple[str, str]:
    """The report as (Markdown, self-contained HTML with the images inlined)."""
    sections = [
        (f"Params (workspace vs `{base}`)", params_table(params_diff)),
        (f"Metrics (workspace vs `{base}`)", metrics_table(metrics_diff)),
    ]
    md = [f"# {title}", ""]
    for head, body in sections:
        md += [f"## {head}", "", body, ""]
    md += ["## Plots", ""] + ([f"![{p.stem}]({p.name})" for p in images] or ["No plots."])
    parts = [f"<h1>{html.escape(title)}</h1>"]
    for head, body in sections:
        parts += [f"<h2>{html.escape(head)}</h2>", _md_table_to_html(body)]
    parts.append("<h2>Plots</h2>")
    for p in images:
        data = base64.b64encode(p.read_bytes()).decode()
        parts.append(
            f'<figure><img alt="{html.escape(p.stem)}" src="data:image/png;base64,{data}"></figure>'
        )
    style = (
        "body{font-family:sans-serif;max-width:60rem;margin:2rem auto}"
        "table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:.3rem .6rem}"
    )
    page = (
        f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(title)}"
        f"</title><style>{style}</style></head><body>{''.join(parts)}</body></html>"
    )
    return "\n".join(md) + "\n", page


def _md_table_to_html(text: str) -> str:
    lines = [ln for ln in text.splitlines() if ln.startswith("|")]
    if not lines:
        return f"<p>{html.escape(text)}</p>"
    cells = [[c.strip() for c in ln.strip("|").split("|")] for ln in lines if "---" not in ln]
    head = "".join(f"<th>{html.escape(c)}</th>" for c in cells[0])
    body = "".join(
        "<tr>" + "".join(f"<td>{html.escape(c.strip('`'))}</td>" for c in row) + "</tr>"
        for row in cells[1:]
    )
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"
