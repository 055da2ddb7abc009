"""reporting/markup.py: Markdown cells never break a table; pages and figures are whole."""

from __future__ import annotations

import base64

from capo_pipelines.reporting.markup import (
    COMPARISON_PAGE,
    PR_PAGE,
    html_figure,
    html_page,
    html_table,
    markdown_table,
)


def test_a_pipe_or_line_break_in_a_cell_stays_in_its_cell():
    lines = markdown_table(["a|b", "n"], [["x\ny", "1"], ["z\r\nw", "2|3"]], right={1})
    assert lines == [
        "| a\\|b | n |",
        "|---|--:|",
        "| x<br>y | 1 |",
        "| z<br>w | 2\\|3 |",
    ]


def test_html_table_escapes_its_header_and_keeps_finished_rows():
    table = html_table(["<b>", ""], ["<tr><td>1</td><td>2</td></tr>"])
    assert table == (
        "<table><thead><tr><th>&lt;b&gt;</th><th></th></tr></thead>"
        "<tbody><tr><td>1</td><td>2</td></tr></tbody></table>"
    )


def test_a_figure_inlines_the_png_bytes(tmp_path):
    png = tmp_path / "chart.png"
    png.write_bytes(b"\x89PNG\r\n\x1a\nnot really")
    figure = html_figure(png, "a & b", img_class="chart")
    data = base64.b64encode(png.read_bytes()).decode("ascii")
    assert f'<img class="chart" alt="a &amp; b" src="data:image/png;base64,{data}">' in figure
    assert figure.endswith("<figcaption>a &amp; b</figcaption></figure>")


def test_each_page_style_builds_a_whole_page():
    comparison = html_page("x < y", "<p>body</p>", COMPARISON_PAGE)
    assert comparison.startswith("<!doctype html>\n<html lang='en'><head><meta charset='utf-8'>")
    assert "<title>x &lt; y</title>" in comparison
    assert comparison.endswith("<body><p>body</p></body></html>\n")
    pr = html_page("t", "", PR_PAGE)
    assert pr.startswith("<!doctype html><html><head><meta charset='utf-8'><meta name='viewport'")
    assert pr.endswith("</html>") and PR_PAGE.css in pr
