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


def _benchmark_export(args: argparse.Namespace) -> int:
    import json
    from pathlib import Path

    from capo.data.export import export_benchmark
    from capo.params import load_params

    study = json.loads(Path(args.study).read_text(encoding="utf-8")) if args.study else None
    summary = export_benchmark(
        load_params(args.params),
        args.dir,
        regime=args.regime,
        seed=args.seed,
        validation_pairs=args.validation_pairs,
        study=study,
    )
    sizes = ", ".join(f"{split} {n}" for split, n in summary["sizes"].items())
    print(f"{args.dir}: pairs ({sizes}), sft (train {summary['sft_size']}), README.md")
    return 0


def _add_benchmark(sub: argparse._SubParsersAction) -> None:
    bench = sub.add_parser(
        "benchmark",
        help="export the built-in benchmark as a Hugging Face dataset",
        description="The built-in multilingual preference benchmark, for use outside capo.",
    )
    inner = bench.add_subparsers(dest="benchmark_command", required=True, metavar="COMMAND")
    export = inner.add_parser(
        "export",
        help="write the benchmark as a dataset folder with its card",
        description="Write DIR/README.md (the dataset card), DIR/data/*.parquet (config "
        "pairs: train, validation, test), DIR/sft/*.parquet (config sft) and DIR/disk/ "
        "(datasets.load_from_disk folders), with the settings of ingest.benchmark.",
    )
    export.add_argument("dir", help="output folder")
    export.add_argument("--params", default="params.yaml", help="params file (ingest.benchmark)")
    export.add_argument(
        "--regime", help="use this noise-study regime's settings (study.regimes) instead"
    )
    export.add_argument("--seed", type=int, help="seed (default: the params file's)")
    export.add_argument(
        "--validation-pairs",
        type=int,
        help="clean validation pairs (default: study.validation_pairs)",
    )
    export.add_argument(
        "--study",
        default="reports/noise_study.json",
        help="noise study JSON for the card's reference scores ('' for none)",
    )
    export.set_defaults(func=_benchmark_export)


BUILTIN = ("check-params", "generate", "benchmark")


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
    _add_benchmark(sub)
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
    except CapoError as err:  # ParamsError included
        print(f"capo {_command(argv)}: error: {err}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
