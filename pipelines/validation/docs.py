"""GX Data Docs for the validate stage that work offline, and capo's gate verdict on them.

GX's pages load Bootstrap, jQuery, Font Awesome, bootstrap-table and Vega from CDNs, and
its index builds the list of validation runs in the browser with bootstrap-table; with no
network that list is empty and every page is unstyled. ``make_readable_offline`` fixes a
built site in place:

- jQuery 3, Bootstrap 4 (with Popper) and Font Awesome 6 are copied from the XStatic
  packages (PyPI dependencies) into ``static/capo/`` and every page links those instead;
  every other CDN tag (bootstrap-table, datepicker, Vega, the dark theme) is dropped;
- each bootstrap-table on a page (the index's validation runs and suites) is rendered
  as a plain HTML table from the same rows GX gave it, so it needs no JavaScript;
- GX's logo comes from the site's own ``static/images`` (its dark-theme logo: none).

``add_gate_note`` puts capo's gate verdict at the top of the index and of the validation
page: GX calls a validation "Failed" as soon as one expectation has a failing row, while
capo quarantines such rows and fails only on the gate's conditions. Every step is a pure
function of the built pages, so the same input gives the same bytes.
"""

from __future__ import annotations

import ast
import html
import logging
import re
import shutil
from pathlib import Path
from typing import Any

from xstatic.pkg import bootstrap, font_awesome, jquery

from capo.errors import CapoError

__all__ = ["ASSET_DIR", "SITE_NAME", "add_gate_note", "clear_site", "make_readable_offline"]

log = logging.getLogger(__name__)

SITE_NAME = "capo_validation"
ASSET_DIR = "static/capo"  # under the site root
_FONTS = ("fa-solid-900", "fa-regular-400", "fa-brands-400", "fa-v4compatibility")
_ASSETS: dict[str, Path] = {  # site path under ASSET_DIR -> packaged file
    "jquery.min.js": Path(jquery.BASE_DIR) / "jquery.min.js",
    "bootstrap.min.css": Path(bootstrap.BASE_DIR) / "css/bootstrap.min.css",
    "bootstrap.bundle.min.js": Path(bootstrap.BASE_DIR) / "js/bootstrap.bundle.min.js",
    "fontawesome/css/all.min.css": Path(font_awesome.BASE_DIR) / "css/all.min.css",
    "fontawesome/LICENSE.txt": Path(font_awesome.BASE_DIR) / "LICENSE.txt",
    **{  # woff2 only: every browser that runs Bootstrap 4 takes it before the ttf
        f"fontawesome/webfonts/{name}.woff2": Path(font_awesome.BASE_DIR) / f"webfonts/{name}.woff2"
        for name in _FONTS
    },
}
_CDN_LINK = re.compile(r'[ \t]*<link\b[^>]*\bhref="https?://[^"]*"[^>]*>\n?')
_CDN_SCRIPT = re.compile(r'[ \t]*<script\b[^>]*\bsrc="https?://[^"]*"[^>]*>\s*</script>\n?')
# GX's logos, as <img src="..."> or CSS url('...'): the site's own copy, or none.
_GX_IMAGE = re.compile(
    r"""(src=|url\()(["'])https://great-expectations-web-assets[^"'/]*/([\w.-]+)[^"']*\2\)?"""
)
_TABLE_CALL = re.compile(r"\$\('#([\w-]+)'\)\.bootstrapTable\(\s*Object\.assign\(")
_NOTE_CLASS = "capo-gate-note"


def site_config(directory: Path) -> dict[str, Any]:
    """A GX filesystem Data Docs site rooted at ``directory``."""
    return {
        "class_name": "SiteBuilder",
        "store_backend": {
            "class_name": "TupleFilesystemStoreBackend",
            "base_directory": str(directory.resolve()),
        },
        "site_index_builder": {"class_name": "DefaultSiteIndexBuilder"},
    }


def clear_site(directory: Path) -> None:
    """Remove a previous site so the docs show this run only (DVC does the same for outs)."""
    if directory.exists():
        if any(directory.iterdir()) and not (directory / "index.html").exists():
            raise CapoError(f"{directory}: not empty and not a Data Docs site; will not delete it")
        shutil.rmtree(directory)


def make_readable_offline(directory: Path) -> int:
    """Serve the site's assets locally and render its tables as HTML; returns pages changed."""
    for name, source in _ASSETS.items():
        target = directory / ASSET_DIR / name
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(source, target)
    images = {p.name for p in (directory / "static" / "images").glob("*")}
    pages = 0
    for page in sorted(directory.rglob("*.html")):
        root = "../" * (len(page.relative_to(directory).parts) - 1)
        text = page.read_text(encoding="utf-8")
        offline = _static_tables(_local_assets(text, root, images), page)
        if offline != text:
            page.write_text(offline, encoding="utf-8")
            pages += 1
    log.info("Data Docs: %d pages under %s served offline", pages, directory)
    return pages


def _local_assets(text: str, root: str, images: set[str]) -> str:
    """Every CDN tag out; local Bootstrap/Font Awesome where the first stylesheet was, jQuery
    and Bootstrap's JS where the first script was (inline scripts after them need jQuery)."""
    styles = (
        f'    <link rel="stylesheet" href="{root}{ASSET_DIR}/bootstrap.min.css"/>\n'
        f'    <link rel="stylesheet" href="{root}{ASSET_DIR}/fontawesome/css/all.min.css"/>\n'
    )
    scripts = (
        f'    <script src="{root}{ASSET_DIR}/jquery.min.js"></script>\n'
        f'    <script src="{root}{ASSET_DIR}/bootstrap.bundle.min.js"></script>\n'
    )
    for pattern, tags in ((_CDN_LINK, styles), (_CDN_SCRIPT, scripts)):
        first = pattern.search(text)
        if first:
            text = text[: first.start()] + tags + pattern.sub("", text[first.start() :])
    return _GX_IMAGE.sub(lambda m: _local_image(m, root, images), text)


def _local_image(match: re.Match[str], root: str, images: set[str]) -> str:
    kind, quote, name = match[1], match[2], match[3]
    if name not in images:
        return 'src=""' if kind == "src=" else "none"
    path = f"{quote}{root}static/images/{name}{quote}"
    return f"src={path}" if kind == "src=" else f"url({path})"


def _static_tables(text: str, page: Path) -> str:
    """Replace each bootstrap-table (a table filled by JavaScript) with the rows it holds."""
    while call := _TABLE_CALL.search(text):
        table_id = call[1]
        try:
            columns = _literal_after(text, "columns:", call.end())
            rows = _literal_after(text, "data:", call.end())
        except (ValueError, SyntaxError) as err:
            log.warning("Data Docs: %s: table %s left to JavaScript: %s", page, table_id, err)
            return text
        start = text.rfind("<script>", 0, call.start())
        end = text.index("</script>", call.end()) + len("</script>")
        text = text[:start] + text[end:]
        toolbar = re.compile(rf'<div id="{table_id}-toolbar".*?</div>\s*', re.S)
        text = toolbar.sub("", text, count=1)
        element = re.search(rf'<table\s+id="{table_id}"[^>]*>\s*</table>', text)
        if element is None:
            log.warning("Data Docs: %s: no empty table %s to fill", page, table_id)
            return text
        rendered = _render_table(table_id, columns, rows)
        text = text[: element.start()] + rendered + text[element.end() :]
    return text


def _literal_after(text: str, key: str, start: int) -> Any:
    """The Python/JS literal (list or dict) that follows ``key`` after ``start``."""
    begin = text.index(key, start) + len(key)
    begin = text.index(text[begin:].lstrip()[0], begin)
    depth, quote, i = 0, "", begin
    while i < len(text):
        ch = text[i]
        if quote:
            i += 1 if ch == "\\" else 0
            quote = "" if ch == quote else quote
        elif ch in "'\"":
            quote = ch
        elif ch in "[{":
            depth += 1
        elif ch in "]}":
            depth -= 1
            if depth == 0:
                return ast.literal_eval(text[begin : i + 1])
        i += 1
    raise ValueError(f"unterminated literal after {key!r}")


def _render_table(table_id: str, columns: list[dict], rows: list[dict]) -> str:
    """A Bootstrap-styled table; plain-text cells link to the row's page, as GX's rows do."""
    fields = [c for c in columns if not str(c.get("field", "_")).startswith("_")]
    head = "".join(f"<th>{html.escape(str(c.get('title', c['field'])))}</th>" for c in fields)
    body = []
    for row in rows:
        link = row.get("_table_row_link_path")
        cells = []
        for column in fields:
            value = str(row.get(column["field"], "")).strip()
            if link and value and "<" not in value:
                value = f'<a href="{html.escape(link)}">{value}</a>'
            cells.append(f"<td>{value}</td>")
        body.append(f"<tr>{''.join(cells)}</tr>")
    return (
        f'<table id="{table_id}" class="table table-sm table-hover capo-static-table">\n'
        f"<thead><tr>{head}</tr></thead>\n<tbody>\n" + "\n".join(body) + "\n</tbody>\n</table>"
    )


def add_gate_note(directory: Path, passed: bool, summary: str) -> int:
    """Put capo's gate verdict above the content of the index and each validation page."""
    lines = [html.escape(line.strip()) for line in summary.splitlines() if line.strip()]
    verdict = "<br>".join(lines) or "no verdict"
    note = (
        f'<div class="alert alert-{"success" if passed else "danger"} {_NOTE_CLASS}"'
        f' role="status"><strong>capo gate: {"passed" if passed else "failed"}.</strong>'
        f" {verdict}<br><small>Great Expectations marks a validation Failed as soon as one"
        " expectation has a failing row. capo sends such rows to quarantine"
        " (data/validated/quarantine.parquet) and fails the stage only when an expectation"
        " errors, a table-level expectation fails, or a language's (with at least"
        " validate.min_language_rows rows) or all rows' quarantined share is above"
        " validate.max_failing_fraction; per-expectation and per-language counts are"
        " in reports/validation.json.</small></div>\n"
    )
    pages = [directory / "index.html", *sorted((directory / "validations").rglob("*.html"))]
    changed = 0
    for page in (p for p in pages if p.is_file()):
        text = page.read_text(encoding="utf-8")
        anchor = text.find('<div id="section-1"')
        if anchor < 0 or _NOTE_CLASS in text:
            continue
        page.write_text(text[:anchor] + note + text[anchor:], encoding="utf-8")
        changed += 1
    return changed
