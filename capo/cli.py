"""The `capo` command: `capo --help` lists the subcommands.

The core (`pip install capo`) has the dispatcher, `--version` and `capo train`
(capo/train_command.py). Every subcommand plugs in through the entry-point group
``capo.commands``: the core's own ``train``, and the workflow distribution
(pipelines/pyproject.toml) adds check-params, generate, benchmark, serve, report, register and
models. Only the command being run is loaded, so `capo check-params` does not pay for Prefect,
and this module imports nothing but the standard library and capo.errors.

`capo --help` loads none of them: each command's one-line help is the first line of its
entry point function's docstring, read from the plug-in's source without running it (ast).
A plug-in whose source cannot be read that way (no docstring, a compiled module) is loaded
for its help instead. Exit codes (README, "Exit codes"): 0 ok, 1 an unexpected failure,
EXIT_USAGE (2) a bad command line or a command this installation lacks, EXIT_INPUT (3) a
bad file, row or parameter.
"""

from __future__ import annotations

import argparse
import ast
import sys
from importlib.metadata import EntryPoint, PackageNotFoundError, entry_points, version
from importlib.util import find_spec
from pathlib import Path

from capo.errors import EXIT_INPUT, EXIT_USAGE, CapoError

__all__ = ["build_parser", "command_summary", "main"]

GROUP = "capo.commands"


def _command(argv: list[str]) -> str | None:
    """The subcommand named on the command line (the first word that is not an option)."""
    return next((a for a in argv if not a.startswith("-")), None)


def _plugins() -> dict[str, EntryPoint]:
    """The installed subcommands by name, sorted."""
    return {ep.name: ep for ep in sorted(entry_points(group=GROUP), key=lambda e: e.name)}


def _version() -> str:
    """capo's version from the installed distribution's metadata (the source's otherwise)."""
    try:
        return version("capo")
    except PackageNotFoundError:
        from capo import __version__

        return __version__


def build_parser(
    command: str | None = None,
    lazy: bool = False,
    plugins: dict[str, EntryPoint] | None = None,
) -> argparse.ArgumentParser:
    """The `capo` parser with the plug-in command ``command`` loaded.

    Without ``command`` (or with one that is not installed), every command: loaded when not
    ``lazy`` (a parser that parses any command line), else named with its help only (enough
    for `capo --help` and for argparse's unknown-command error, and loads no plug-in).
    ``plugins``: the installed commands, when the caller has them already (_plugins).
    """
    parser = argparse.ArgumentParser(
        prog="capo",
        description="Confidence-Aware Preference Optimization for multilingual alignment. "
        "The pipeline itself runs with `dvc repro`; these commands check, serve and "
        "package it.",
    )
    parser.add_argument("--version", action="version", version=f"capo {_version()}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    plugins = _plugins() if plugins is None else plugins
    if not set(plugins) & set(WORKFLOW_COMMANDS):  # a core-only install
        parser.epilog = WORKFLOW_HINT
    if command in plugins:
        plugins[command].load()(sub)
        return parser
    for name, ep in plugins.items():
        summary = command_summary(ep) if lazy else None
        if summary is None:
            ep.load()(sub)
        else:
            sub.add_parser(name, help=summary)
    return parser


def command_summary(ep: EntryPoint) -> str | None:
    """The first line of the docstring of the function ``ep`` names, read from its module's
    source without importing the module (one ``from X import name`` is followed); None when
    it cannot be read that way."""
    module, attr = ep.module, ep.attr
    for _ in range(3):
        tree = _parse(module)
        if tree is None:
            return None
        origin = None
        for node in tree.body:
            if isinstance(node, ast.FunctionDef) and node.name == attr:
                doc = ast.get_docstring(node)
                return doc.strip().splitlines()[0] if doc and doc.strip() else None
            if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                for alias in node.names:
                    if (alias.asname or alias.name) == attr:
                        origin = (node.module, alias.name)
        if origin is None:
            return None
        module, attr = origin
    return None


def _parse(module: str) -> ast.Module | None:
    """The syntax tree of ``module``'s source, found on the import path without importing it
    or its packages; None if it has no readable source."""
    top, *rest = module.split(".")
    try:
        spec = find_spec(top)  # a top-level name: nothing is imported
    except (ImportError, ValueError):
        return None
    if spec is None:
        return None
    if not rest:
        candidates = [Path(spec.origin)] if spec.origin else []
    else:
        candidates = [
            path
            for folder in spec.submodule_search_locations or []
            for path in (
                Path(folder, *rest[:-1], rest[-1] + ".py"),
                Path(folder, *rest, "__init__.py"),
            )
        ]
    for path in candidates:
        if path.suffix == ".py" and path.is_file():
            try:
                return ast.parse(path.read_text(encoding="utf-8"), str(path))
            except (OSError, SyntaxError, UnicodeDecodeError, ValueError):
                return None
    return None


WORKFLOW_COMMANDS = (
    "check-params",
    "generate",
    "benchmark",
    "serve",
    "report",
    "register",
    "models",
)
WORKFLOW_HINT = (
    "The commands (check-params, generate, benchmark, serve, report, register, models) are "
    "the workflow's: install it from capo's repository with pip install -e ./pipelines"
)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    command = _command(argv)
    plugins = _plugins()
    if command in WORKFLOW_COMMANDS and command not in plugins:  # a core-only install
        print(f"capo: error: {command!r}: no such command here. {WORKFLOW_HINT}", file=sys.stderr)
        return EXIT_USAGE
    try:
        args = build_parser(command, command not in plugins, plugins).parse_args(argv)
        return int(args.func(args) or 0)
    except ModuleNotFoundError as err:  # a plug-in whose own dependencies are missing
        print(
            f"capo: error: {err.name} is not installed; this command is part of the "
            "workflow: pip install -e ./pipelines (in capo's repository)",
            file=sys.stderr,
        )
        return EXIT_USAGE
    except CapoError as err:  # ParamsError included
        print(f"capo {command}: error: {err}", file=sys.stderr)
        return EXIT_INPUT


if __name__ == "__main__":
    sys.exit(main())
