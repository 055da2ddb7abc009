"""`capo register` and `capo models`: GTO version and stage tags of the packaged model.

    capo register --version v1.2.0 --stage staging     # after `dvc repro` and a commit
    capo register --version v1.2.0 --push-to-hub USER/NAME   # also upload it to the Hub
    capo models                                        # versions, stages, metrics

The register stage (pipelines/register.py) gates and packages the model; these commands
record a packaged version as GTO git tags and list them. They plug into the `capo` command
through the entry-point group ``capo.commands`` (pyproject.toml).
"""

from __future__ import annotations

import argparse
import json
import subprocess
from pathlib import Path

import yaml

from capo.errors import CapoError
from capo_pipelines._stage import output, tool
from capo_pipelines.hub import check_push, push_folder
from capo_pipelines.models.registry import apply_gate
from capo_pipelines.params import load_params

__all__ = ["add_models_command", "add_register_command", "models", "register"]


def register(args: argparse.Namespace) -> int:
    """`capo register`: GTO version (and stage) tags for the packaged, gated model."""
    if output(["git", "status", "--porcelain", "--untracked-files=no"]).strip():
        raise CapoError(
            "the working tree has uncommitted changes: commit them first, so the "
            "registered version points at the code, params and dvc.lock it used"
        )
    if args.push_to_hub:
        check_push(args.push_to_hub)  # no token: one line before any tag is made
    gate = load_params(args.params).register
    _, table = apply_gate(gate, Path(args.metrics))
    name = gate.name
    status = json.loads(output([tool("dvc"), "status", "register", "--json"]) or "{}")
    if status:
        raise CapoError(
            f"the register stage is not up to date ({status}): run `dvc repro` "
            "and commit dvc.lock first"
        )
    if args.push_to_hub:  # before the tags, so a failed upload leaves no version behind
        package = Path(args.package) if args.package else artifact_path(name)
        push_folder(package, args.push_to_hub, "model", message=f"{name} {args.version}")
        print(f"pushed {package} to https://huggingface.co/{args.push_to_hub}")
    print(output([tool("gto"), "register", name, "--version", args.version]).strip())
    if args.stage:
        print(
            output(
                [tool("gto"), "assign", name, "--version", args.version, "--stage", args.stage]
            ).strip()
        )
    if args.push:
        print(output([tool("dvc"), "push", "register"]).strip())
    print(f"{name} {args.version} registered; gate:\n{table}")
    return 0


def artifact_path(name: str, dvc_yaml: Path = Path("dvc.yaml")) -> Path:
    """The package folder of artifact ``name``: dvc.yaml's ``artifacts.<name>.path``."""
    try:
        doc = yaml.safe_load(dvc_yaml.read_text(encoding="utf-8")) or {}
        return Path(doc["artifacts"][name]["path"])
    except (OSError, KeyError, TypeError, yaml.YAMLError) as err:
        raise CapoError(
            f"{dvc_yaml}: no artifacts.{name}.path (the package to push); give --package DIR"
        ) from err


def models(args: argparse.Namespace) -> int:
    """`capo models`: versions, stages and the headline metric at each version's commit."""
    loss = load_params(args.params).register.loss
    shown = json.loads(output([tool("gto"), "show", "--json"]) or "{}")
    print("| artifact | version | stages | commit | overall reward accuracy |")
    print("|---|---|---|---|---|")
    for name in sorted(shown):
        for v in json.loads(output([tool("gto"), "show", name, "--json"]) or "[]"):
            sha = v["commit_hexsha"]
            shown_metrics = subprocess.run(
                ["git", "show", f"{sha}:{args.metrics}/{loss}.json"], capture_output=True, text=True
            )
            acc = "—"
            if shown_metrics.returncode == 0:
                acc = f"{json.loads(shown_metrics.stdout)['overall']['reward_accuracy']:.4f}"
            stages = ", ".join(s["stage"] for s in v.get("stages", [])) or "—"
            print(f"| {name} | {v['version']} | {stages} | {sha[:8]} | {acc} |")
    return 0


def add_register_command(subparsers: argparse._SubParsersAction) -> None:
    """record a gated model version (and stage) as GTO git tags

    `capo register`; the first line is its help in `capo --help` (capo/cli.py).
    """
    parser = subparsers.add_parser(
        "register",
        help="record a gated model version (and stage) as GTO git tags",
        description="Check the promotion gate and a clean working tree, then create the GTO "
        "tags <name>@<version> and, with --stage, <name>#<stage>. Run `dvc repro` and commit "
        "first; --push also uploads the package to the DVC remote, --push-to-hub REPO to a "
        "Hugging Face Hub model repo (created if needed; needs a token: hf auth login).",
    )
    parser.add_argument("--version", required=True, help="semantic version, e.g. v1.0.0")
    parser.add_argument("--stage", help="stage to assign, e.g. staging or prod")
    parser.add_argument("--push", action="store_true", help="dvc push the registered package")
    parser.add_argument(
        "--push-to-hub",
        metavar="REPO",
        help="upload the package (card, weights, tokenizer) to this Hub model repo (USER/NAME)",
    )
    parser.add_argument(
        "--package", help="package folder to push (default: dvc.yaml's artifact path)"
    )
    parser.add_argument("--params", default="params.yaml")
    parser.add_argument("--metrics", default="metrics")
    parser.set_defaults(func=register)


def add_models_command(subparsers: argparse._SubParsersAction) -> None:
    """list registered versions, stages, metrics

    `capo models`; the first line is its help in `capo --help` (capo/cli.py).
    """
    parser = subparsers.add_parser("models", help="list registered versions, stages, metrics")
    parser.add_argument("--params", default="params.yaml")
    parser.add_argument("--metrics", default="metrics")
    parser.set_defaults(func=models)
