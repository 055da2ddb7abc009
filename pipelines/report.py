"""`capo report --base REV`: DVC params, metrics and plot diffs as one pull-request document.

    capo report --base origin/main                 # Markdown on stdout, files in reports/pr/
    capo report --base HEAD~1 --out /tmp/pr > comment.md

Runs `dvc params diff`, `dvc metrics diff` and `dvc plots diff` (all offline, in the local
repository) and writes report.md, report.html (self-contained) and one PNG per plot.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

from capo.errors import CapoError
from capo.report import build_report, render_plots
from pipelines._stage import tool

__all__ = ["add_report_command", "collect"]


def _dvc_json(args: list[str], repo: Path) -> dict:
    proc = subprocess.run(
        [tool("dvc"), *args, "--json"],
        cwd=repo,
        capture_output=True,
        text=True,
    )
    if proc.returncode != 0:
        raise CapoError(f"`dvc {' '.join(args)}` failed: {proc.stderr.strip()[-500:]}")
    return json.loads(proc.stdout or "{}")


def collect(repo: Path, base: str) -> tuple[dict, dict, dict]:
    """(params diff, metrics diff, plots diff JSON) of the workspace against ``base``."""
    rev = subprocess.run(
        ["git", "rev-parse", "--verify", f"{base}^{{commit}}"],
        cwd=repo,
        capture_output=True,
        text=True,
    )
    if rev.returncode != 0:
        raise CapoError(f"--base {base!r} is not a git revision of {repo}")
    return (
        _dvc_json(["params", "diff", base], repo),
        _dvc_json(["metrics", "diff", base], repo),
        _dvc_json(["plots", "diff", base, "--split"], repo),
    )


def report(args: argparse.Namespace) -> int:
    repo = Path(args.repo).resolve()
    params, metrics, plots = collect(repo, args.base)
    out = Path(args.out) if Path(args.out).is_absolute() else repo / args.out
    images = render_plots(plots, out)
    markdown, page = build_report(params, metrics, images, base=args.base)
    (out / "report.md").write_text(markdown, encoding="utf-8")
    (out / "report.html").write_text(page, encoding="utf-8")
    print(markdown)
    print(
        f"capo report: wrote {out / 'report.md'}, report.html and {len(images)} PNG(s)",
        file=sys.stderr,
    )
    return 0


def add_report_command(subparsers: argparse._SubParsersAction) -> None:
    """Plug `report` into the `capo` command (entry point group ``capo.commands``)."""
    parser = subparsers.add_parser(
        "report",
        help="params/metrics/plots diff against a git revision, for a pull request",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--base", required=True, help="git revision to compare against")
    parser.add_argument("--repo", default=".", help="repository (default: .)")
    parser.add_argument("--out", default="reports/pr", help="output folder (default: reports/pr)")
    parser.set_defaults(func=report)
