"""Data Docs with no network: local assets, a static index, the gate note; headless Chromium."""

from __future__ import annotations

import dataclasses
import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from capo_pipelines.params import ValidateParams
from capo_pipelines.validation import validate_pairs
from capo_pipelines.validation.docs import ASSET_DIR
from tests.validate_data import LANGUAGES, clean_pairs

# The gate passes (no limit on quarantine) while one expectation fails for one row, so GX
# calls the validation "Failed": the default pipeline's situation.
PARAMS = ValidateParams(languages=LANGUAGES, prompt_chars=(1, 200), max_failing_fraction=1.0)
NETWORK = re.compile(r"""(?:src=|url\()["']?https?://|<link\b[^>]*href=["']https?://""")


@pytest.fixture(scope="module")
def site(tmp_path_factory) -> Path:
    df = clean_pairs()
    df.loc[0, "rejected"] = df.loc[0, "chosen"]  # chosen == rejected: one quarantined row
    docs = tmp_path_factory.mktemp("docs") / "data_docs"
    run = validate_pairs(df, dataclasses.replace(PARAMS), docs)
    assert run.gate.passed and len(run.quarantined) == 1
    return docs


def _validation_page(site: Path) -> Path:
    (page,) = (site / "validations").rglob("*.html")
    return page


def test_pages_load_nothing_from_the_network(site):
    pages = sorted(site.rglob("*.html"))
    assert len(pages) == 3  # index, the suite, the validation run
    for page in pages:
        text = page.read_text(encoding="utf-8")
        assert not NETWORK.findall(text), (page, NETWORK.findall(text))
        assert f"{ASSET_DIR}/bootstrap.min.css" in text and f"{ASSET_DIR}/jquery.min.js" in text
    for asset in ("bootstrap.bundle.min.js", "fontawesome/webfonts/fa-solid-900.woff2"):
        assert (site / ASSET_DIR / asset).stat().st_size > 10_000
    assert (site / ASSET_DIR / "fontawesome" / "LICENSE.txt").is_file()  # SIL OFL 1.1 asks


def test_index_lists_the_run_in_html_and_explains_failed_against_the_gate(site):
    index = (site / "index.html").read_text(encoding="utf-8")
    link = _validation_page(site).relative_to(site).as_posix()
    assert f'<a href="{link}">' in index  # in the HTML itself, not built by JavaScript
    assert ".bootstrapTable(\n" not in index and "bootstrapTable(\n    Object.assign" not in index
    page = _validation_page(site).read_text(encoding="utf-8")
    assert "fa-times text-danger" in page  # GX: this validation failed (one expectation)...
    for text in (index, page):  # ... and capo says why the stage still passes
        assert "capo gate: passed." in text and "27 rows read, 26 accepted, 1 quarantined" in text
        assert "Great Expectations marks a validation Failed as soon as one" in text


def test_offline_rewrite_is_idempotent(site):
    from capo_pipelines.validation.docs import add_gate_note, make_readable_offline

    before = {p: p.read_bytes() for p in site.rglob("*") if p.is_file()}
    make_readable_offline(site)
    add_gate_note(site, True, "again")
    assert {p: p.read_bytes() for p in site.rglob("*") if p.is_file()} == before


def _chromium() -> str | None:
    return shutil.which("chromium") or shutil.which("chromium-browser")


# Injected by the test only, after the page's own scripts: what a person would see.
CHECK = """<script>
window.addEventListener('load', async () => {
  await document.fonts.ready;
  const style = (sel, prop) => {
    const el = document.querySelector(sel);
    return el ? getComputedStyle(el)[prop] : null;
  };
  const table = document.querySelector('#Validation-Results table');
  const out = {
    runs: table && table.tBodies[0] ? [...table.tBodies[0].rows].map(r =>
      r.querySelector('a') && r.querySelector('a').getAttribute('href')) : null,
    note: style('.capo-gate-note', 'backgroundColor'),
    tabs: style('.nav-tabs', 'borderBottomStyle'),
    icon: style('.fas', 'fontFamily'),
    fonts: [...document.fonts].filter(f => f.status === 'loaded').map(f => f.family),
    jquery: typeof window.jQuery === 'function' && typeof jQuery.fn.tab === 'function',
    resources: [...document.querySelectorAll('link[href], script[src], img[src]')]
      .map(e => e.href || e.src),
  };
  const pre = document.createElement('pre');
  pre.id = 'capo-check';
  pre.textContent = JSON.stringify(out);
  document.body.appendChild(pre);
});
</script></body>"""


def _render(chromium: str, page: Path, profile: Path) -> dict:
    checked = page.with_name("capo-check.html")
    checked.write_text(page.read_text(encoding="utf-8").replace("</body>", CHECK), "utf-8")
    flags = [
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--host-resolver-rules=MAP * ~NOTFOUND",  # no name resolves: nothing can load online
        f"--user-data-dir={profile}",
        "--virtual-time-budget=5000",
        "--dump-dom",
    ]
    proc = subprocess.run(
        [chromium, *flags, checked.as_uri()], capture_output=True, text=True, timeout=120
    )
    checked.unlink()
    assert 'id="capo-check"' in proc.stdout, proc.stderr[-2000:]
    raw = proc.stdout.split('id="capo-check">', 1)[1].split("</pre>", 1)[0]
    return json.loads(raw.replace("&quot;", '"').replace("&amp;", "&"))


@pytest.mark.slow
@pytest.mark.skipif(_chromium() is None, reason="chromium not installed (scripts/setup-browser.sh)")
def test_chromium_offline_index_lists_the_run_and_its_page_is_styled(site, tmp_path):
    index = _render(_chromium(), site / "index.html", tmp_path / "profile")
    link = _validation_page(site).relative_to(site).as_posix()
    assert index["runs"] == [link]  # the index lists the validation run
    assert index["jquery"] and index["tabs"] == "solid"  # Bootstrap's CSS and JS are there
    assert all(r.startswith("file://") for r in index["resources"]), index["resources"]
    page = _render(_chromium(), _validation_page(site), tmp_path / "profile")
    assert page["note"] == "rgb(212, 237, 218)"  # Bootstrap's .alert-success, only from its CSS
    assert "Font Awesome 6 Free" in page["icon"] and "Font Awesome 6 Free" in page["fonts"]
    assert all(r.startswith("file://") for r in page["resources"]), page["resources"]
