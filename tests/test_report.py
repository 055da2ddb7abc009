"""`capo report` on two commits of a real DVC repo: a one-param change, as a reviewer reads it.

The toy pipeline writes metrics shaped like evaluate's metrics/<loss>.json (two losses; only
capo reads loss.gamma), dvclive training metrics with runtime numbers, a comparison.json that
repeats the per-loss numbers, and a chart. The Markdown is rendered as GitHub renders it
(CommonMark + GFM tables, inline HTML for <details>) and every image link is resolved.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from markdown_it import MarkdownIt

from capo.errors import EXIT_INPUT
from capo_pipelines.reporting.pr import Cell, loss_diffs, other_metrics
from tests.conftest import GIT_ENV as ENV
from tests.conftest import ROOT, dvc_bin, git_dvc_repo

pytestmark = pytest.mark.slow
CAPO = str(Path(sys.executable).parent / "capo")

MAKE = """import json, os, yaml
g = yaml.safe_load(open("params.yaml"))["loss"]["gamma"]
base = {"de": 0.5, "en": 0.6, "hi": 0.55}
delta = {"de": 0.2, "en": 0.01, "hi": 0.0}  # capo's change per unit of gamma, per language
def doc(acc, margin, empty):
    rows = {l: {"reward_accuracy": acc[l], "reward_margin": margin[l], "generation_accuracy": 0.3,
                "language_fidelity": 0.9, "pairs": 100, "verifiable": 100} for l in acc}
    for l in rows:
        if empty is not None:
            rows[l]["empty_rate"] = empty
    overall = {k: sum(r[k] for r in rows.values()) / 3 for k in rows["de"]}
    overall.update(pairs=300, verifiable=300)
    return {"overall": overall, "per_language": rows}
capo = doc({l: base[l] + (g - 1) * delta[l] for l in base},
           {"de": -0.05 * g, "en": 0.1 * g, "hi": 0.2}, 0.02 * g)
sigmoid = doc(base, {"de": -0.04, "en": 0.1, "hi": 0.2}, None)  # no empty_rate column
os.makedirs("metrics", exist_ok=True)
for name, d in (("capo", capo), ("sigmoid", sigmoid)):
    json.dump(d, open(f"metrics/{name}.json", "w"))
live = "dvclive/train/capo/plots/metrics/train/rewards"
os.makedirs(live, exist_ok=True)
with open(f"{live}/accuracies.tsv", "w") as f:
    f.write("step\\taccuracies\\n" + "".join(f"{s}\\t{0.5 + s * g / 100}\\n" for s in (5, 10, 15)))
json.dump({"train": {"loss": 0.6 / g}, "train_runtime": 5.0 * g,
           "eval": {"samples_per_second": 100 * g}}, open("dvclive/train/capo/metrics.json", "w"))
os.makedirs("reports/figures", exist_ok=True)
json.dump({"capo_vs_sigmoid": {"overall": {"reward_accuracy": capo["overall"]["reward_accuracy"]}},
           "noise": {"overall": {"flipped_mean_w": 0.9 / g}}}, open("reports/comparison.json", "w"))
import matplotlib; matplotlib.use("Agg"); import matplotlib.pyplot as plt
plt.figure(figsize=(2, 1)); plt.plot([0, g]); plt.savefig("reports/figures/gain.png")
"""
DVC_YAML = """metrics:
  - metrics
  - dvclive/train/capo/metrics.json
  - reports/comparison.json
stages:
  make:
    cmd: python make.py
    deps: [make.py]
    params: [loss.gamma]
    outs:
      - metrics: {cache: false}
      - dvclive: {cache: false}
      - reports/comparison.json: {cache: false}
      - reports/figures: {cache: false}
"""


def _run(args, repo):
    return subprocess.run(args, cwd=repo, check=True, capture_output=True, text=True, env=ENV)


@pytest.fixture(scope="module")
def two_commits(tmp_path_factory):
    """gamma 1.0 reproduced and committed, then gamma 2.0 reproduced and committed."""
    files = {
        "make.py": MAKE,
        "dvc.yaml": DVC_YAML,
        "params.yaml": "loss:\n  gamma: 1.0\n  beta: 0.1\n",
        ".gitignore": (ROOT / ".gitignore").read_text(),  # the project's ignore rules
    }
    repo = git_dvc_repo(tmp_path_factory.mktemp("report") / "repo", files)
    for gamma in ("1.0", "2.0"):
        (repo / "params.yaml").write_text(f"loss:\n  gamma: {gamma}\n  beta: 0.1\n")
        _run([dvc_bin(), "repro", "-q"], repo)
        _run(["git", "add", "-A"], repo)
        _run(["git", "commit", "-qm", f"gamma {gamma}"], repo)
    return repo


def _report(repo: Path, *extra: str) -> tuple[subprocess.CompletedProcess, Path]:
    proc = subprocess.run(
        [CAPO, "report", "--base", "HEAD~1", *extra],
        cwd=repo,
        capture_output=True,
        text=True,
        env=ENV,
    )
    assert proc.returncode == 0, proc.stderr
    return proc, repo / "reports" / "pr"


def _github_html(markdown: str) -> str:
    """Markdown as GitHub renders a comment: CommonMark, GFM tables, inline HTML."""
    return (
        MarkdownIt("commonmark", {"html": True}).enable(["table", "strikethrough"]).render(markdown)
    )


def _first_table(page: str) -> list[list[str]]:
    from html.parser import HTMLParser

    class Cells(HTMLParser):
        def __init__(self):
            super().__init__()
            self.rows, self.tables, self.cell = [], 0, None

        def handle_starttag(self, tag, attrs):
            if tag == "table":
                self.tables += 1
            elif tag == "tr" and self.tables == 1:
                self.rows.append([])
            elif tag in ("td", "th") and self.tables == 1:
                self.cell = ""

        def handle_endtag(self, tag):
            if tag in ("td", "th") and self.cell is not None and self.tables == 1:
                self.rows[-1].append(self.cell.strip())
                self.cell = None

        def handle_data(self, data):
            if self.cell is not None:
                self.cell += data

    parser = Cells()
    parser.feed(page)
    return parser.rows


def test_first_table_is_the_changed_loss_per_language_with_both_commits_numbers(two_commits):
    proc, out = _report(two_commits)
    md = (out / "report.md").read_text()
    assert md == proc.stdout
    old = json.loads(_run(["git", "show", "HEAD~1:metrics/capo.json"], two_commits).stdout)
    new = json.loads((two_commits / "metrics" / "capo.json").read_text())
    page = _github_html(md)
    assert page.index("loss.gamma") < page.index("<table>")  # params lead
    assert "<code>loss.gamma</code>: 1.0 → 2.0" in page
    rows = _first_table(page)
    assert rows[0][:3] == ["", "test pairs", "reward accuracy"]
    assert rows[0][-1] == "empty rate"  # capo has it; sigmoid's table has no such column
    by_group = {r[0]: r for r in rows[1:]}
    assert list(by_group) == ["overall", "de", "en", "hi"]
    for lang in ("de", "en"):
        a, b = (
            old["per_language"][lang]["reward_accuracy"],
            new["per_language"][lang]["reward_accuracy"],
        )
        assert by_group[lang][2].startswith(f"{a:.3f} → {b:.3f} ({b - a:+.3f}")
    assert by_group["de"][2].endswith("⚑)")  # +0.200 at 100 pairs: beyond noise
    assert "⚑" not in by_group["en"][2]  # +0.010: within noise
    assert by_group["hi"][2] == "0.550"  # unchanged: one value
    assert by_group["de"][3] == "-0.050 → -0.100 (-0.050)"  # negative base: absolute change
    assert "%" not in "".join(c for r in rows for c in r)
    assert "Unchanged: sigmoid" in md


def test_other_metrics_leave_out_runtime_and_repeated_numbers_unless_all(two_commits):
    _, out = _report(two_commits)
    md = (out / "report.md").read_text()
    assert "`train.loss`" in md and "`noise.overall.flipped_mean_w`" in md
    assert "train_runtime" not in md and "samples_per_second" not in md
    assert "capo_vs_sigmoid" not in md  # comparison.json repeats capo's numbers
    _, out = _report(two_commits, "--all")
    md = (out / "report.md").read_text()
    assert "`train_runtime`" in md and "`eval.samples_per_second`" in md


def test_markdown_images_resolve_and_the_tree_stays_clean(two_commits):
    _, out = _report(two_commits)
    page = _github_html((out / "report.md").read_text())
    srcs = [s.split('"')[0] for s in page.split('<img src="')[1:]]
    assert srcs == [
        "reward_accuracy_capo.png",
        "training_reward_accuracy.png",
        "head_gain.png",
    ]
    for src in srcs:
        assert (out / src).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"  # relative to report.md
    assert "data:" not in (out / "report.md").read_text()
    status = _run(["git", "status", "--porcelain", "--untracked-files=all"], two_commits)
    assert status.stdout == ""
    assert not (two_commits / "dvc_plots").exists()


def test_published_images_are_linked_by_commit_and_nothing_else_moves(two_commits, tmp_path):
    remote = tmp_path / "remote.git"
    _run(["git", "init", "-q", "--bare", str(remote)], tmp_path)
    _run(["git", "remote", "add", "origin", str(remote)], two_commits)
    try:
        branch = _run(["git", "branch", "--show-current"], two_commits).stdout
        _, out = _report(two_commits, "--publish", "capo-pr-reports", "--github-repo", "o/r")
        md = (out / "report.md").read_text()
        commit = _run(["git", "rev-parse", "capo-pr-reports"], remote).stdout.strip()
        head = _run(["git", "rev-parse", "HEAD"], two_commits).stdout.strip()[:12]
        prefix = f"https://github.com/o/r/raw/{commit}/capo-report/{head}/"
        srcs = [s.split('"')[0] for s in _github_html(md).split('<img src="')[1:]]
        assert len(srcs) == 3 and all(s.startswith(prefix) for s in srcs)
        tree = _run(["git", "ls-tree", "-r", "--name-only", commit], remote).stdout.split()
        assert sorted(tree) == sorted(
            s.removeprefix(f"https://github.com/o/r/raw/{commit}/") for s in srcs
        )
        assert _run(["git", "branch", "--show-current"], two_commits).stdout == branch
        status = _run(["git", "status", "--porcelain", "--untracked-files=all"], two_commits)
        assert status.stdout == ""
        # a second report appends to the branch: earlier comments' links stay valid
        _report(two_commits, "--publish", "capo-pr-reports", "--github-repo", "o/r")
        log = _run(["git", "rev-list", "capo-pr-reports"], remote).stdout.split()
        assert len(log) == 2 and log[1] == commit
    finally:
        _run(["git", "remote", "remove", "origin"], two_commits)


def test_report_on_a_bad_revision_is_a_clear_error(two_commits):
    proc = subprocess.run(
        [CAPO, "report", "--base", "no-such-rev"],
        cwd=two_commits,
        capture_output=True,
        text=True,
        env=ENV,
    )
    assert proc.returncode == EXIT_INPUT
    assert "not a git revision" in proc.stderr and "Traceback" not in proc.stderr


def test_noise_flags_from_hand_made_diffs():
    def diff(old, new):
        return {"old": old, "new": new, "diff": None if old is None else new - old}

    keys = {
        "overall.reward_accuracy": diff(0.5, 0.56),
        "overall.pairs": diff(1000, 1000),
        "per_language.de.reward_accuracy": diff(0.0, 0.0),
        "per_language.de.pairs": diff(50, 50),
        "per_language.de.reward_margin": diff(-4.906, -4.8),
    }
    (loss,) = loss_diffs({"metrics/capo.json": keys})
    overall, de = loss.rows
    assert overall.cells["reward_accuracy"].flagged  # 0.06 > 2 * 0.0224
    assert not Cell(0.5, 0.54, overall.cells["reward_accuracy"].se).flagged
    assert de.cells["reward_accuracy"].se > 0 and not de.cells["reward_accuracy"].flagged
    assert de.cells["reward_margin"].se is None  # no reward_margin_std: no flag
    assert [m.key for m in loss.metrics] == ["reward_accuracy", "reward_margin"]
    assert other_metrics({"metrics/capo.json": keys}) == []  # per-loss files are not "other"


@pytest.mark.skipif(
    shutil.which("chromium") is None, reason="chromium not installed (scripts/setup-browser.sh)"
)
def test_html_report_in_chromium_fits_1300px_and_its_charts_decode(two_commits, tmp_path):
    _, out = _report(two_commits)
    probe = """<script>window.addEventListener('load', () => {
      const imgs = [...document.images].map(i => i.naturalWidth);
      const t = document.querySelector('table').getBoundingClientRect();
      const pre = document.createElement('pre'); pre.id = 'probe';
      const page = document.documentElement.scrollWidth;
      pre.textContent = JSON.stringify({imgs, right: t.right, page});
      document.body.appendChild(pre);});</script></body>"""
    page = tmp_path / "probe.html"
    page.write_text((out / "report.html").read_text().replace("</body>", probe))
    flags = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"]
    dom = subprocess.run(
        [
            "chromium",
            *flags,
            f"--user-data-dir={tmp_path / 'p'}",
            "--window-size=1300,900",
            "--virtual-time-budget=5000",
            "--dump-dom",
            page.as_uri(),
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    raw = dom.stdout.split('id="probe">', 1)[1].split("</pre>", 1)[0]
    probe_result = json.loads(raw.replace("&quot;", '"'))
    assert len(probe_result["imgs"]) == 3 and min(probe_result["imgs"]) > 50
    assert probe_result["page"] <= 1300 and probe_result["right"] <= 1300  # change column visible


def test_dvc_exp_run_sweep_reads_metrics_back(two_commits):
    _run([dvc_bin(), "exp", "run", "-S", "loss.gamma=3.0", "--name", "g3", "--temp"], two_commits)
    shown = json.loads(_run([dvc_bin(), "exp", "show", "--json"], two_commits).stdout)
    exps = [e for rev in shown for e in (rev.get("experiments") or [])]
    (g3,) = [e for e in exps if e.get("name") == "g3"]
    data = g3["revs"][0]["data"]
    assert data["params"]["params.yaml"]["data"]["loss"]["gamma"] == 3.0
    metrics = data["metrics"]["metrics/capo.json"]["data"]
    assert metrics["per_language"]["de"]["reward_accuracy"] == pytest.approx(0.9)


def test_the_pr_workflow_runs_a_report_command_capo_accepts():
    import re
    import shlex

    import yaml

    from capo.cli import build_parser

    workflow = yaml.safe_load((ROOT / ".github/workflows/pr-report.yml").read_text())
    steps = workflow["jobs"]["report"]["steps"]
    runs = [re.sub(r"\$\{\{[^}]*\}\}", "X", s.get("run", "")) for s in steps]
    (command,) = [r for r in runs if "capo report" in r]
    argv = shlex.split(command)
    args = build_parser().parse_args(argv[1:])
    assert args.publish and args.github_repo and args.out == "reports/pr"
    assert any('.venv/bin" >> "$GITHUB_PATH"' in r for r in runs)
    assert any("reports/pr/report.md" in r and "gh pr comment" in r for r in runs)
    assert workflow["permissions"]["contents"] == "write"  # to push the PNGs' branch
