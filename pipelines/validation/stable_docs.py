"""Data Docs that are byte-identical for identical data, so DVC sees no change where none is.

GX stamps every build with the time: in the run's folder, breadcrumb, "Run Time" cell and
index row, as the batch's ``ge_load_time``, and as ``?d=<now>`` on image links; and it gives
collapsible sections random uuid4 ids. ``RUN_ID`` fixes the run's time (SOURCE_DATE_EPOCH,
the reproducible-builds convention, when set; else the Unix epoch), and ``stabilize_site``
rewrites the other stamps to it and numbers those ids in page order. When the validation ran
is in DVC's and the stage's logs, not in its output.
"""

from __future__ import annotations

import datetime as dt
import os
import re
from pathlib import Path

from great_expectations.core.run_identifier import RunIdentifier

__all__ = ["RUN_ID", "stabilize_site"]

RUN_TIME = dt.datetime.fromtimestamp(int(os.environ.get("SOURCE_DATE_EPOCH", "0")), dt.UTC)
RUN_ID = RunIdentifier(run_name="capo_validate", run_time=RUN_TIME)
_STAMP = re.compile(r"\b\d{8}T\d{6}\.\d{6}Z\b")  # GX's "%Y%m%dT%H%M%S.%fZ"
# collapse.j2: id = content_block_id ~ "-collapse-body-" | generate_html_element_uuid
_UUID = re.compile(r"(?<=-collapse-body-)[0-9a-f]{8}(?:-[0-9a-f]{4}){3}-[0-9a-f]{12}")


def _stable(html: str) -> str:
    html = _STAMP.sub(RUN_TIME.strftime("%Y%m%dT%H%M%S.%fZ"), html)
    ids: dict[str, str] = {}

    def number(match: re.Match[str]) -> str:
        return ids.setdefault(match[0], f"00000000-0000-4000-8000-{len(ids):012d}")

    return _UUID.sub(number, html)


def stabilize_site(directory: Path) -> int:
    """Rewrite the time stamps and random ids of every page under ``directory``; page count."""
    pages = 0
    for page in sorted(directory.rglob("*.html")):
        html = page.read_text(encoding="utf-8")
        stable = _stable(html)
        if stable != html:
            page.write_text(stable, encoding="utf-8")
            pages += 1
    return pages
