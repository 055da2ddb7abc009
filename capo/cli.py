"""The `capo` command: `capo --help` lists the subcommands.

Commands that need the pipeline layer (Prefect, DVC) plug in through the entry-point group
``capo.commands`` (see pyproject.toml), so this package never imports them. Only the
command being run is loaded (all of them for `capo --help`), so `capo check-params` does
not pay for Prefect.
"""

from __future__ import annotations

import argparse
import sys
from importlib.metadata import entry_points

from capo.errors import CapoError

__all__ = ["main"]


def _check_params(args: argparse.Namespace) -> int:
    from capo.params import load_params

    params = load_params(args.path)
    print(f"{args.path}: ok")
    for name in params.__dataclass_fields__:
        print(f"  {name}: {getattr(params, name)}")
    return 0


BUILTIN = ("check-params", "generate")


def _command(argv: list[str]) -> str | None:
    """The subcommand named on the command line (the first word that is not an option)."""
    return next((a for a in argv if not a.startswith("-")), None)


def build_parser(command: str | None = None) -> argparse.ArgumentParser:
    """The `capo` parser with the plug-in command ``command`` (all of them when None or
    unknown, so help and the unknown-command error list every command)."""
    parser = argparse.ArgumentParser(
        prog="capo",
        description="Confidence-Aware Preference Optimization for multilingual alignment. "
        "The pipeline itself runs with `dvc repro`; these commands check, serve and "
        "package it.",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    check = sub.add_parser(
        "check-params",
        help="validate params.yaml and print the settings",
        description="Parse params.yaml into capo's typed schema; an "
        "unknown key or a wrong type is reported with its dotted name.",
    )
    check.add_argument("path", nargs="?", default="params.yaml")
    check.set_defaults(func=_check_params)
    from capo.evaluation import samples

    samples.add_command(sub)
    plugins = sorted(entry_points(group="capo.commands"), key=lambda e: e.name)
    chosen = [ep for ep in plugins if ep.name == command]
    for ep in [] if command in BUILTIN else chosen or plugins:
        ep.load()(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    try:
        args = build_parser(_command(argv)).parse_args(argv)
        return int(args.func(args) or 0)
    except ModuleNotFoundError as err:  # `pip install capo` is the core: no pipeline packages
        print(
            f"capo: error: {err.name} is not installed; the capo command is part of the "
            "pipeline: pip install 'capo[pipeline]'",
            file=sys.stderr,
        )
        return 2
    except (CapoError, ValueError) as err:  # ParamsError is a ValueError
        from capo.params import ParamsError

        if not isinstance(err, CapoError | ParamsError):
            raise
        print(f"capo {_command(argv)}: error: {err}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
