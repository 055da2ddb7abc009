"""The `capo` subcommands of the workflow: check-params, generate and benchmark.

They plug into the core's `capo` command (capo/cli.py) through the entry-point group
``capo.commands`` of this distribution (pipelines/pyproject.toml), like serve, report,
register and models, so `pip install capo` alone has a `capo` command without them.
"""

from __future__ import annotations

import argparse

__all__ = ["add_benchmark_command", "add_check_params_command", "add_generate_command"]

# Not uploaded by `capo benchmark export --push-to-hub`: the load_from_disk copies of the
# Parquet files (the Hub reads the Parquet files through the card's configs).
HUB_IGNORE = ("disk/*",)


def _check_params(args: argparse.Namespace) -> int:
    from capo_pipelines.params import load_params

    params = load_params(args.path)
    print(f"{args.path}: ok")
    for name in params.__dataclass_fields__:
        print(f"  {name}: {getattr(params, name)}")
    return 0


def _benchmark_export(args: argparse.Namespace) -> int:
    import json
    from pathlib import Path

    from capo_pipelines.export.benchmark_export import export_benchmark
    from capo_pipelines.hub import check_push, push_folder
    from capo_pipelines.params import load_params

    if args.push_to_hub:
        check_push(args.push_to_hub)  # no token: one line before the export's work
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
    if args.push_to_hub:
        push_folder(
            args.dir,
            args.push_to_hub,
            "dataset",
            message="capo benchmark export",
            ignore_patterns=list(HUB_IGNORE),
        )
        print(f"pushed {args.dir} to https://huggingface.co/datasets/{args.push_to_hub}")
    return 0


def add_benchmark_command(sub: argparse._SubParsersAction) -> None:
    """export the built-in benchmark as a Hugging Face dataset

    `capo benchmark export`; the first line is its help in `capo --help` (capo/cli.py).
    """
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
    export.add_argument(
        "--push-to-hub",
        metavar="REPO",
        help="also upload DIR (card, LICENSE.md, Parquet files; not disk/) to this Hugging "
        "Face Hub dataset repo (USER/NAME), created if needed; needs a token (hf auth login)",
    )
    export.set_defaults(func=_benchmark_export)


def add_check_params_command(sub: argparse._SubParsersAction) -> None:
    """validate params.yaml and print the settings

    `capo check-params [PATH]`; the first line is its help in `capo --help` (capo/cli.py).
    """
    check = sub.add_parser(
        "check-params",
        help="validate params.yaml and print the settings",
        description="Parse params.yaml into capo's typed schema; an "
        "unknown key or a wrong type is reported with its dotted name.",
    )
    check.add_argument("path", nargs="?", default="params.yaml")
    check.set_defaults(func=_check_params)


def add_generate_command(sub: argparse._SubParsersAction) -> None:
    """greedy answers of models side by side, on the test prompts

    `capo generate` (capo_pipelines.evaluation.samples); the first line is its help in
    `capo --help` (capo/cli.py).
    """
    from capo_pipelines.evaluation import samples

    samples.add_command(sub)
