"""`capo report` and `dvc exp run -S` sweeps in temporary git repositories with real DVC."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from capo.report import build_report, metrics_table, params_table
from tests.conftest import GIT_ENV as ENV
from tests.conftest import dvc_bin, git_dvc_repo

pytestmark = pytest.mark.slow

MAKE = """import json, os, yaml
g = yaml.safe_load(open("params.yaml"))["loss"]["gamma"]
os.makedirs("metrics", exist_ok=True)
langs = ["en", "de", "hi"]
json.dump({"overall": {"reward_accuracy": 0.5 + g / 10},
           "per_language": {l: {"reward_accuracy": 0.4 + g / 20 + i / 10}
                            for i, l in enumerate(langs)}}, open("metrics/capo.json", "w"))
json.dump([{"language": l, "reward_accuracy": 0.3 + g / 10 + i / 10}
           for i, l in enumerate(langs)], open("metrics/bars.json", "w"))
json.dump([{"step": s, "loss": 1 / (s + g)} for s in range(1, 6)], open("metrics/curve.json", "w"))
"""
DVC_YAML = """metrics:
  - metrics/capo.json
plots:
  - metrics/bars.json:
      x: reward_accuracy
      y: language
      template: bar_horizontal
  - metrics/curve.json:
      x: step
      y: loss
stages:
  make:
    cmd: python make.py
    deps: [make.py]
    params: [loss.gamma]
    outs:
      - metrics/capo.json:
          cache: false
      - metrics/bars.json:
          cache: false
      - metrics/curve.json:
          cache: false
"""


def _run(args, repo):
    return subprocess.run(args, cwd=repo, check=True, capture_output=True, text=True, env=ENV)


@pytest.fixture
def two_commits(tmp_path):
    files = {"make.py": MAKE, "dvc.yaml": DVC_YAML, "params.yaml": "loss:\n  gamma: 1.0\n"}
    repo = git_dvc_repo(tmp_path / "repo", files)
    _run([dvc_bin(), "repro"], repo)
    _run(["git", "add", "-A"], repo)
    _run(["git", "commit", "-qm", "gamma 1"], repo)
    (repo / "params.yaml").write_text("loss:\n  gamma: 2.0\n")
    _run([dvc_bin(), "repro"], repo)
    _run(["git", "add", "-A"], repo)
    _run(["git", "commit", "-qm", "gamma 2"], repo)
    return repo


def test_report_shows_changed_params_metrics_and_renders_plots(two_commits, tmp_path):
    out = tmp_path / "pr"
    capo = Path(sys.executable).parent / "capo"
    proc = subprocess.run(
        [str(capo), "report", "--base", "HEAD~1", "--out", str(out)],
        cwd=two_commits,
        capture_output=True,
        text=True,
        env=ENV,
    )
    assert proc.returncode == 0, proc.stderr
    md = (out / "report.md").read_text()
    assert md == proc.stdout.rstrip("\n") + "\n"
    assert "| params.yaml | `loss.gamma` | 1 | 2 |" in md
    assert "| metrics/capo.json | `overall.reward_accuracy` | 0.6 | 0.7 | +0.1 (+16.7%) |" in md
    assert "`per_language.hi.reward_accuracy`" in md
    pngs = sorted(p.name for p in out.glob("*.png"))
    assert pngs == ["metrics_bars.json.png", "metrics_curve.json.png"]
    for name in pngs:
        assert (out / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        assert f"]({name})" in md
    page = (out / "report.html").read_text()
    assert page.count("data:image/png;base64,") == 2 and "<td>loss.gamma</td>" in page


def test_report_on_a_bad_revision_is_a_clear_error(two_commits):
    capo = Path(sys.executable).parent / "capo"
    proc = subprocess.run(
        [str(capo), "report", "--base", "no-such-rev"],
        cwd=two_commits,
        capture_output=True,
        text=True,
        env=ENV,
    )
    assert proc.returncode == 2
    assert "not a git revision" in proc.stderr and "Traceback" not in proc.stderr


def test_tables_from_hand_made_diffs():
    assert params_table({}) == "No parameter changed."
    table = metrics_table(
        {
            "m.json": {
                "a": {"old": 0.0, "new": 0.2, "diff": 0.2},
                "b": {"old": 0.5, "new": 0.4, "diff": -0.1},
            }
        }
    )
    lines = table.splitlines()
    assert lines[2].startswith("| m.json | `a` | 0 | 0.2 | +0.2 |")  # no % of a zero base
    assert lines[3].endswith("| -0.1 (-20.0%) |")
    md, page = build_report({}, {}, [], base="main")
    assert "No plots." in md and "<h2>Plots</h2>" in page


def test_dvc_exp_run_sweep_reads_metrics_back(two_commits):
    _run([dvc_bin(), "exp", "run", "-S", "loss.gamma=3.0", "--name", "g3"], two_commits)
    shown = json.loads(_run([dvc_bin(), "exp", "show", "--json"], two_commits).stdout)
    exps = [e for rev in shown for e in (rev.get("experiments") or [])]
    (g3,) = [e for e in exps if e.get("name") == "g3"]
    data = g3["revs"][0]["data"]
    assert data["params"]["params.yaml"]["data"]["loss"]["gamma"] == 3.0
    metrics = data["metrics"]["metrics/capo.json"]["data"]
    assert metrics["overall"]["reward_accuracy"] == pytest.approx(0.8)
