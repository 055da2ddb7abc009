"""The `capo` command: `capo --help` lists the subcommands.

Commands that need the pipeline layer (Prefect, DVC) plug in through the entry-point group
``capo.commands`` (see pyproject.toml), so this package never imports them.
"""

from __future__ import annotations

import argparse
import sys
from importlib.metadata import entry_points

from capo import samples
from capo.errors import CapoError
from capo.params import ParamsError, load_params

__all__ = ["main"]


def _check_params(args: argparse.Namespace) -> int:
    params = load_params(args.path)
    print(f"{args.path}: ok")
    for name in params.__dataclass_fields__:
        print(f"  {name}: {getattr(params, name)}")
    return 0


def build_parser() -> argparse.ArgumentParser:
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
    samples.add_command(sub)
    for ep in sorted(entry_points(group="capo.commands"), key=lambda e: e.name):
        ep.load()(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except (CapoError, ParamsError) as err:
        print(f"capo {args.command}: error: {err}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
