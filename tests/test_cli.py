"""The `capo` command: a lazy `--help`, only the named command loaded, the exit codes.

Each command line runs in a fresh interpreter (`python -m capo.cli ...`), so what it imports
is what `capo` imports.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tomllib
from importlib.metadata import EntryPoint, entry_points, version

import pytest

from capo.cli import GROUP, build_parser, command_summary
from capo.errors import EXIT_INPUT, EXIT_USAGE
from tests.conftest import ROOT

# modules a command line must not load unless it runs that command
WORKFLOW = ("capo_pipelines.", "prefect", "dvc", "torch", "great_expectations")
# the workflow's commands, as this checkout declares them (an environment may hold others)
OURS = tomllib.loads((ROOT / "pipelines/pyproject.toml").read_text(encoding="utf-8"))["project"][
    "entry-points"
][GROUP]


def _ours() -> list[EntryPoint]:
    installed = {ep.name: ep for ep in entry_points(group=GROUP)}
    assert set(OURS) <= set(installed), f"not installed: {set(OURS) - set(installed)}"
    return [installed[name] for name in sorted(OURS)]


def _capo(*argv: str, cwd=ROOT, probe: bool = False) -> subprocess.CompletedProcess:
    """`capo ARGV` in a fresh interpreter; with ``probe``, its last stdout line lists the
    loaded modules of WORKFLOW."""
    code = "import sys\nfrom capo.cli import main\ntry:\n    code = main(sys.argv[1:])\n"
    code += "except SystemExit as exit:\n    code = exit.code\n"
    if probe:
        code += f"print(sorted(m for m in sys.modules if m.startswith({WORKFLOW!r})))\n"
    code += "sys.exit(code)\n"
    env = {**os.environ}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))
    return subprocess.run(
        [sys.executable, "-c", code, *argv], cwd=cwd, capture_output=True, text=True, env=env
    )


def test_help_lists_every_command_with_its_help_and_loads_none():
    proc = _capo("--help", probe=True)
    assert proc.returncode == 0, proc.stderr
    *help_lines, loaded = proc.stdout.strip().splitlines()
    assert loaded == "[]", f"`capo --help` loaded {loaded[:300]}"
    text = " ".join(" ".join(help_lines).split())  # argparse wraps long lines
    for ep in _ours():
        summary = command_summary(ep)
        assert summary and ep.name in text and summary in text, (ep.name, text)


def test_the_listed_help_is_each_commands_own():
    """The help `capo --help` reads from the source equals what the loaded command
    registers, for every command (so the two cannot drift apart)."""
    parser = build_parser()  # every command loaded
    (sub,) = [a for a in parser._actions if a.dest == "command"]
    loaded = {a.dest: a.help for a in sub._choices_actions}
    assert set(loaded) == {ep.name for ep in entry_points(group=GROUP)}
    for ep in _ours():
        assert command_summary(ep) == loaded[ep.name], ep.name


def test_a_command_loads_only_itself():
    proc = _capo("report", "--help", probe=True)
    assert proc.returncode == 0, proc.stderr
    loaded = proc.stdout.strip().splitlines()[-1]
    assert "capo_pipelines.pr_report" in loaded
    for other in ("capo_pipelines.flows", "capo_pipelines.commands", "register_commands"):
        assert other not in loaded, loaded


def test_a_summary_without_readable_source_is_none():
    def ep(value: str) -> EntryPoint:
        return EntryPoint(name="x", value=value, group=GROUP)

    assert command_summary(ep("json:dumps")) == "Serialize ``obj`` to a JSON formatted ``str``."
    assert command_summary(ep("math:sqrt")) is None  # a compiled module
    assert command_summary(ep("json:no_such_function")) is None
    assert command_summary(ep("no_such_module_here:f")) is None


def test_version_is_the_distributions():
    proc = _capo("--version")
    assert proc.returncode == 0 and proc.stdout.strip() == f"capo {version('capo')}"


@pytest.mark.parametrize(
    ("argv", "code", "message"),
    [
        (["check-params", "bad.yaml"], EXIT_INPUT, "capo check-params: error: bad.yaml: train.foo"),
        (["check-params", "--no-such-option"], EXIT_USAGE, "unrecognized arguments"),
        (["no-such-command"], EXIT_USAGE, "invalid choice: 'no-such-command'"),
        ([], EXIT_USAGE, "the following arguments are required: COMMAND"),
    ],
)
def test_exit_codes(tmp_path, argv, code, message):
    (tmp_path / "bad.yaml").write_text("train:\n  foo: 1\n")
    proc = _capo(*argv, cwd=tmp_path, probe=True)
    assert proc.returncode == code, proc.stderr
    assert message in proc.stderr and "Traceback" not in proc.stderr
    if argv[:1] != ["check-params"]:
        loaded = proc.stdout.strip().splitlines()[-1]
        assert loaded == "[]", loaded[:300]  # nothing loaded to say so
