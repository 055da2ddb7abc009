"""GX Data Docs for the validate stage: the site config and an inline offline stylesheet.

GX's Data Docs pages link Bootstrap, jQuery and Vega from CDNs. Offline those fail and
the page falls back to bare HTML; every result is still in the HTML itself (no page
content is built by JavaScript for a validation run), so ``make_readable_offline``
injects a small stylesheet as the first thing in <head>: it gives tables borders and
spacing, bounds the logo, and keeps the layout readable. It comes before GX's CDN links,
so when they do load (online) Bootstrap's rules win and the page looks as GX intended.
"""

from __future__ import annotations

import logging
import shutil
from pathlib import Path
from typing import Any

from capo.errors import CapoError

__all__ = ["OFFLINE_STYLE_ID", "SITE_NAME", "clear_site", "make_readable_offline", "site_config"]

log = logging.getLogger(__name__)

SITE_NAME = "capo_validation"
OFFLINE_STYLE_ID = "capo-offline-style"
_STYLE = f"""<style id="{OFFLINE_STYLE_ID}">
/* capo: fallback when the CDN stylesheets cannot load (offline); Bootstrap overrides it. */
body {{ font-family: system-ui, sans-serif; margin: 1rem auto; max-width: 80rem;
  padding: 0 1rem; line-height: 1.4; color: #222; }}
table {{ border-collapse: collapse; margin: 0.5rem 0 1rem; width: 100%; }}
th, td {{ border: 1px solid #bbb; padding: 0.25rem 0.5rem; text-align: left;
  vertical-align: top; }}
th {{ background: #eee; }}
img {{ max-height: 3rem; }}
pre, code {{ background: #f4f4f4; white-space: pre-wrap; word-break: break-word; }}
.card, section {{ border-top: 1px solid #ddd; margin-top: 0.75rem; padding-top: 0.5rem; }}
nav ul, .nav {{ list-style: none; padding-left: 0; }}
</style>
"""


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
    """Inject the fallback stylesheet into every HTML page under ``directory``; returns count."""
    pages = 0
    for page in sorted(directory.rglob("*.html")):
        html = page.read_text(encoding="utf-8")
        if OFFLINE_STYLE_ID in html or "<head>" not in html:
            continue
        page.write_text(html.replace("<head>", "<head>\n" + _STYLE, 1), encoding="utf-8")
        pages += 1
    log.info("Data Docs: %d pages under %s made readable offline", pages, directory)
    return pages
