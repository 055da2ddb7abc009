"""`register` stage and the `capo register` / `capo models` commands.

The stage (`python -m pipelines.register`) applies the promotion gate of params.yaml
`register:` to the evaluate stage's metrics and, when it passes, packages the model as the
DVC artifact declared in dvc.yaml. `capo register --version v1.2.0 --stage staging` then
records the version and stage as GTO git tags; `capo models` lists them with their metrics.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import logging
import subprocess
from pathlib import Path

from capo.errors import CapoError
from capo.params import RegisterParams, load_params
from capo.registry import CardInfo, file_md5, gate_checks, gate_table, model_card, package_model
from pipelines._stage import run_stage, tool

__all__ = ["add_models_command", "add_register_command", "main"]

logger = logging.getLogger(__name__)


def _run(args: list[str], cwd: Path | str = ".") -> str:
    proc = subprocess.run(args, cwd=cwd, capture_output=True, text=True)
    if proc.returncode != 0:
        raise CapoError(f"`{' '.join(args)}` failed: {(proc.stderr or proc.stdout).strip()}")
    return proc.stdout


def _load_metrics(metrics_dir: Path, losses: list[str]) -> dict[str, dict]:
    metrics = {}
    for loss in losses:
        path = metrics_dir / f"{loss}.json"
        if not path.exists():
            raise CapoError(f"{path}: missing; is {loss!r} in train.losses and evaluated?")
        metrics[loss] = json.loads(path.read_text(encoding="utf-8"))
    return metrics


def _gate(gate: RegisterParams, metrics_dir: Path) -> tuple[dict[str, dict], str]:
    """Apply the gate; raise CapoError with the table when it fails."""
    metrics = _load_metrics(metrics_dir, [gate.loss, gate.baseline])
    checks = gate_checks(metrics, gate)
    table = gate_table(checks)
    failed = [c.name for c in checks if not c.passed]
    if failed:
        raise CapoError(f"promotion gate failed ({', '.join(failed)}); nothing registered\n{table}")
    return metrics, table


def _git_commit() -> str:
    commit = _run(["git", "rev-parse", "HEAD"]).strip()
    dirty = _run(["git", "status", "--porcelain", "--untracked-files=no"]).strip()
    return commit + ("-dirty" if dirty else "")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Gate and package the model to register.")
    parser.add_argument("--params", default="params.yaml")
    parser.add_argument("--metrics", default="metrics", help="folder of <loss>.json metrics")
    parser.add_argument("--models", default="models", help="folder of trained models")
    parser.add_argument("--train-data", default="data/validated/train.parquet")
    parser.add_argument("--out", required=True, help="package folder (the DVC artifact path)")
    args = parser.parse_args(argv)
    params = load_params(args.params)
    gate = params.register
    metrics, table = _gate(gate, Path(args.metrics))
    info = CardInfo(
        name=gate.name,
        base_model=params.policy.model,
        languages=sorted(metrics[gate.loss].get("per_language", {})),
        loss=dataclasses.replace(params.loss, type=gate.loss),
        metrics=metrics[gate.loss],
        baseline_metrics=metrics[gate.baseline],
        data_md5=file_md5(Path(args.train_data)),
        git_commit=_git_commit(),
        license=gate.license,
    )
    files = package_model(Path(args.models) / gate.loss, Path(args.out), model_card(info))
    logger.info("gate passed:\n%s", table)
    logger.info("packaged %d files into %s", len(files), args.out)


def register(args: argparse.Namespace) -> int:
    """`capo register`: GTO version (and stage) tags for the packaged, gated model."""
    if _run(["git", "status", "--porcelain", "--untracked-files=no"]).strip():
        raise CapoError(
            "the working tree has uncommitted changes: commit them first, so the "
            "registered version points at the code, params and dvc.lock it used"
        )
    gate = load_params(args.params).register
    _, table = _gate(gate, Path(args.metrics))
    name = gate.name
    status = json.loads(_run([tool("dvc"), "status", "register", "--json"]) or "{}")
    if status:
        raise CapoError(
            f"the register stage is not up to date ({status}): run `dvc repro` "
            "and commit dvc.lock first"
        )
    print(_run([tool("gto"), "register", name, "--version", args.version]).strip())
    if args.stage:
        print(
            _run(
                [tool("gto"), "assign", name, "--version", args.version, "--stage", args.stage]
            ).strip()
        )
    if args.push:
        print(_run([tool("dvc"), "push", "register"]).strip())
    print(f"{name} {args.version} registered; gate:\n{table}")
    return 0


def models(args: argparse.Namespace) -> int:
    """`capo models`: versions, stages and the headline metric at each version's commit."""
    loss = load_params(args.params).register.loss
    shown = json.loads(_run([tool("gto"), "show", "--json"]) or "{}")
    print("| artifact | version | stages | commit | overall reward accuracy |")
    print("|---|---|---|---|---|")
    for name in sorted(shown):
        for v in json.loads(_run([tool("gto"), "show", name, "--json"]) or "[]"):
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
    parser = subparsers.add_parser(
        "register",
        help="record a gated model version (and stage) as GTO git tags",
        description="Check the promotion gate and a clean working tree, then create the GTO "
        "tags <name>@<version> and, with --stage, <name>#<stage>. Run `dvc repro` and commit "
        "first; --push also uploads the package to the DVC remote.",
    )
    parser.add_argument("--version", required=True, help="semantic version, e.g. v1.0.0")
    parser.add_argument("--stage", help="stage to assign, e.g. staging or prod")
    parser.add_argument("--push", action="store_true", help="dvc push the registered package")
    parser.add_argument("--params", default="params.yaml")
    parser.add_argument("--metrics", default="metrics")
    parser.set_defaults(func=register)


def add_models_command(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("models", help="list registered versions, stages, metrics")
    parser.add_argument("--params", default="params.yaml")
    parser.add_argument("--metrics", default="metrics")
    parser.set_defaults(func=models)


if __name__ == "__main__":
    run_stage("register", main)
