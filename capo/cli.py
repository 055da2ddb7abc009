"""The `capo` command: `capo --help` lists the subcommands.

The core (`pip install capo`) has only the dispatcher and `--version`. Every subcommand plugs
in through the entry-point group ``capo.commands``: the workflow distribution
(pipelines/pyproject.toml) adds check-params, generate, benchmark, serve, report, register
and models. Only the command being run is loaded (all of them for `capo --help`), so `capo
check-params` does not pay for Prefect, and this module imports nothing but the standard
library and capo.errors.
"""

from __future__ import annotations

import argparse
import sys
from importlib.metadata import entry_points

from capo.errors import EXIT_INPUT, EXIT_USAGE, CapoError

__all__ = ["build_parser", "main"]


def _command(argv: list[str]) -> str | None:
    """The subcommand named on the command line (the first word that is not an option)."""
    return next((a for a in argv if not a.startswith("-")), None)


def build_parser(command: str | None = None) -> argparse.ArgumentParser:
    """The `capo` parser with the plug-in command ``command`` (all of them when None or
    unknown, so help and the unknown-command error list every command)."""
    from capo import __version__

    parser = argparse.ArgumentParser(
        prog="capo",
        description="Confidence-Aware Preference Optimization for multilingual alignment. "
        "The pipeline itself runs with `dvc repro`; these commands check, serve and "
        "package it.",
    )
    parser.add_argument("--version", action="version", version=f"capo {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    plugins = sorted(entry_points(group="capo.commands"), key=lambda e: e.name)
    if not plugins:
        parser.epilog = WORKFLOW_HINT
    chosen = [ep for ep in plugins if ep.name == command]
    for ep in chosen or plugins:
        ep.load()(sub)
    return parser


WORKFLOW_HINT = (
    "The commands (check-params, generate, benchmark, serve, report, register, models) are "
    "the workflow's: install it from capo's repository with pip install -e ./pipelines"
)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    command = _command(argv)
    if command and not list(entry_points(group="capo.commands")):
        print(f"capo: error: {command!r}: no such command here. {WORKFLOW_HINT}", file=sys.stderr)
        return EXIT_USAGE
    try:
        args = build_parser(_command(argv)).parse_args(argv)
        return int(args.func(args) or 0)
    except ModuleNotFoundError as err:  # a plug-in whose own dependencies are missing
        print(
            f"capo: error: {err.name} is not installed; this command is part of the "
            "workflow: pip install -e ./pipelines (in capo's repository)",
            file=sys.stderr,
        )
        return EXIT_USAGE
    except CapoError as err:  # ParamsError included
        print(f"capo {_command(argv)}: error: {err}", file=sys.stderr)
        return EXIT_INPUT


if __name__ == "__main__":
    sys.exit(main())
