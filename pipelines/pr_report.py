"""`capo report --base REV`: what a branch changes in params and metrics, for a pull request.

    capo report --base origin/main                # Markdown on stdout, files in reports/pr/
    capo report --base main --all                 # runtime and throughput metrics too
    capo report --base origin/main --publish capo-pr-reports --github-repo OWNER/REPO

The report leads with the params that changed, then, for each loss whose test metrics
changed, overall and per-language reward accuracy, margin, generation accuracy, language
fidelity and empty rate (base -> head, the change, a flag where it exceeds the noise of the
test split), then a few charts of those losses, then the other metrics that changed.
It reads `dvc params diff` and `dvc metrics diff --all` (offline, this repository; head is
the workspace) and writes report.md (GitHub Markdown, the PR comment), report.html
(self-contained) and the PNGs to --out, a git-ignored folder: no untracked files are left.

Images in the Markdown: by default next to report.md (relative links). A PR comment needs
URLs GitHub can fetch: --publish commits the PNGs to a branch of their own and links them
from there (pipelines/report_publish.py); --image-url links them under a prefix you host.
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import shutil
import subprocess
import sys
from pathlib import Path

from capo.errors import CapoError
from capo_pipelines._stage import tool
from capo_pipelines.report_publish import publish_files
from capo_pipelines.reporting.plots import base_head_by_language, base_head_curves
from capo_pipelines.reporting.pr import LossDiff, Report, Z, loss_diffs, other_metrics
from capo_pipelines.reporting.pr_render import render_html, render_markdown

__all__ = ["add_report_command", "collect", "report"]

CURVE = "dvclive/train/{loss}/plots/metrics/train/rewards/accuracies.tsv"
FIGURES = "reports/figures"  # the compare stage's charts, shown as they are at head


def _dvc_json(args: list[str], repo: Path) -> dict:
    proc = subprocess.run([tool("dvc"), *args, "--json"], cwd=repo, capture_output=True, text=True)
    if proc.returncode != 0:
        raise CapoError(f"`dvc {' '.join(args)}` failed: {proc.stderr.strip()[-500:]}")
    return json.loads(proc.stdout or "{}")


def _git(repo: Path, *args: str) -> str:
    return subprocess.run(["git", *args], cwd=repo, capture_output=True, text=True).stdout.strip()


def collect(repo: Path, base: str) -> tuple[dict, dict]:
    """(params diff, metrics diff with every metric) of the workspace against ``base``."""
    if not _git(repo, "rev-parse", "--verify", "--quiet", f"{base}^{{commit}}"):
        raise CapoError(f"--base {base!r} is not a git revision of {repo}")
    params = _dvc_json(["params", "diff", base], repo)
    metrics = _dvc_json(["metrics", "diff", base, "--all"], repo)
    return params, metrics


def _curve(repo: Path, path: str, rev: str | None) -> list[tuple[float, float]]:
    """(step, value) of a dvclive TSV at ``rev`` (None: the workspace); [] when absent."""
    try:
        if rev is None:
            text = (repo / path).read_text(encoding="utf-8")
        else:
            import dvc.api

            text = dvc.api.read(path, repo=str(repo), rev=rev)
    except Exception:  # absent at that revision (a new loss, a renamed metric): no line
        return []
    rows = list(csv.reader(io.StringIO(text), delimiter="\t"))
    return [(float(r[0]), float(r[-1])) for r in rows[1:] if len(r) >= 2]


def draw_charts(repo: Path, losses: list[LossDiff], base: str, out: Path) -> list[tuple[str, Path]]:
    """Per changed loss: reward accuracy base vs head with the noise band; training curves."""
    charts = []
    changed = [d for d in losses if d.changed]
    for d in changed:
        if "reward_accuracy" not in {m.key for m in d.metrics}:
            continue
        cells = [r.cells["reward_accuracy"] for r in d.rows]
        title = f"{d.loss}: test reward accuracy, base vs head"
        path = base_head_by_language(
            [r.group for r in d.rows],
            [c.old for c in cells],
            [c.new for c in cells],
            [None if c.se is None else Z * c.se for c in cells],
            out / f"reward_accuracy_{d.loss}.png",
            title=title,
            xlabel="reward accuracy",
        )
        charts.append((title, path))
    curves = {}
    for d in changed:
        revs = {
            name: _curve(repo, CURVE.format(loss=d.loss), rev)
            for name, rev in (("base", base), ("head", None))
        }
        if any(revs.values()):
            curves[d.loss] = {name: pts for name, pts in revs.items() if pts}
    if curves:
        path = out / "training_reward_accuracy.png"
        base_head_curves(
            curves,
            path,
            title="training reward accuracy",
            xlabel="step",
            ylabel="rewards/accuracies",
        )
        charts.append(("training reward accuracy, base vs head", path))
    return charts


def _labels(repo: Path, base: str) -> tuple[str, str]:
    """("main (1a2b3c4)", "5d6e7f8" or "5d6e7f8 + uncommitted changes")."""
    base_sha = _git(repo, "rev-parse", "--short", f"{base}^{{commit}}")
    head = _git(repo, "rev-parse", "--short", "HEAD")
    dirty = _git(repo, "status", "--porcelain", "--untracked-files=no")
    base_label = (
        base if base_sha.startswith(base) or base.startswith(base_sha) else f"{base} ({base_sha})"
    )
    return base_label, f"{head} + uncommitted changes" if dirty else head


def _image_src(args: argparse.Namespace, repo: Path, out: Path, files: list[Path]):
    """How report.md links a PNG: published branch, a hosted prefix, or next to the report."""
    if args.publish:
        directory = f"{args.publish_dir or 'capo-report'}/{_git(repo, 'rev-parse', 'HEAD')[:12]}"
        try:
            commit = publish_files(
                repo, files, branch=args.publish, remote=args.remote, directory=directory
            )
        except CapoError as err:
            print(f"capo report: warning: images not published ({err})", file=sys.stderr)
            return lambda path: None
        if not args.github_repo:
            return lambda path: None
        prefix = f"https://github.com/{args.github_repo}/raw/{commit}/{directory}"
        return lambda path: f"{prefix}/{path.name}"
    if args.image_url:
        return lambda path: f"{args.image_url.rstrip('/')}/{path.name}"
    return lambda path: path.name


def report(args: argparse.Namespace) -> int:
    repo = Path(args.repo).resolve()
    params, metrics = collect(repo, args.base)
    out = Path(args.out) if Path(args.out).is_absolute() else repo / args.out
    shutil.rmtree(out, ignore_errors=True)
    out.mkdir(parents=True)
    losses = loss_diffs(metrics)
    base_label, head_label = _labels(repo, args.base)
    doc = Report(
        params,
        losses,
        other_metrics(metrics, runtime=args.all),
        base=base_label,
        head=head_label,
        runtime_shown=args.all,
    )
    charts = draw_charts(repo, losses, args.base, out)
    head_charts = []
    for png in sorted((repo / FIGURES).glob("*.png")) if any(d.changed for d in losses) else []:
        copy = out / f"head_{png.name}"
        shutil.copy2(png, copy)
        head_charts.append((f"{FIGURES}/{png.name}", copy))
    src = _image_src(args, repo, out, [p for _, p in charts + head_charts])
    markdown = render_markdown(doc, charts, src=src, head_charts=head_charts)
    (out / "report.md").write_text(markdown, encoding="utf-8")
    (out / "report.html").write_text(
        render_html(doc, charts, head_charts=head_charts), encoding="utf-8"
    )
    print(markdown, end="")
    n = len(charts) + len(head_charts)
    print(f"capo report: wrote {out / 'report.md'}, report.html and {n} PNG(s)", file=sys.stderr)
    return 0


def add_report_command(subparsers: argparse._SubParsersAction) -> None:
    """what this branch changes in params and metrics, for a pull request

    Plugs `report` into the `capo` command (entry point group ``capo.commands``); the first
    line is its help in `capo --help`, read without importing this module (capo/cli.py).
    """
    parser = subparsers.add_parser(
        "report",
        help="what this branch changes in params and metrics, for a pull request",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--base", required=True, help="git revision to compare against")
    parser.add_argument("--repo", default=".", help="repository (default: .)")
    parser.add_argument("--out", default="reports/pr", help="output folder (default: reports/pr)")
    parser.add_argument(
        "--all", action="store_true", help="also show runtime and throughput metrics"
    )
    parser.add_argument(
        "--publish",
        metavar="BRANCH",
        help="commit the PNGs to BRANCH and push it, for a PR comment",
    )
    parser.add_argument(
        "--remote", default="origin", help="remote to push --publish to (default: origin)"
    )
    parser.add_argument(
        "--publish-dir",
        metavar="DIR",
        help="folder on the branch (default: capo-report; the head commit is appended)",
    )
    parser.add_argument(
        "--github-repo",
        metavar="OWNER/REPO",
        help="with --publish: link the PNGs at github.com/OWNER/REPO/raw/<commit>/...",
    )
    parser.add_argument(
        "--image-url", metavar="PREFIX", help="link the PNGs as PREFIX/<file> (you upload them)"
    )
    parser.set_defaults(func=report)
