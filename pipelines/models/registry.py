"""Model registration: the promotion gate, the Hugging Face style model card, the package.

    checks = gate_checks(metrics_by_loss, params.register)
    if all(c.passed for c in checks):
        check_dvc_record(Path("models/capo"))   # the bytes DVC recorded, else a CapoError
        package_model(Path("models/capo"), Path("models/registry/capo-policy"), card)

Metrics files are the evaluate stage's ``metrics/<loss>.json``: ``{"overall": {...},
"per_language": {lang: {...}}}`` with ``reward_accuracy`` and ``reward_margin`` keys.

check_dvc_record compares the md5 of every file of the model folder with the hashes DVC
recorded for it (the ``.dir`` md5 of its dvc.lock out, or its ``.dvc`` file, and the file list
that names in the DVC cache), and with DVC's cache copy of each file: DVC itself trusts a
file whose size and mtime it has seen, so bytes changed behind its back (a corrupted cache
object hard-linked into the workspace, or copied from) load silently and would be packaged,
and a corrupted cache object would back the package DVC stores and pushes.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from capo.errors import CapoError
from capo_pipelines.evaluation.comparison import load_metrics
from capo_pipelines.params import RegisterParams

__all__ = [
    "CardInfo",
    "GateCheck",
    "apply_gate",
    "check_dvc_record",
    "gate_checks",
    "gate_table",
    "model_card",
    "package_model",
]

# What a Hugging Face model directory needs: weights, config, tokenizer, chat template.
PACKAGE_FILES = (
    "*.safetensors",
    "config.json",
    "generation_config.json",
    "tokenizer*",
    "special_tokens_map.json",
    "chat_template.jinja",
    "vocab.*",
    "merges.txt",
    "*.model",
)


@dataclass(frozen=True)
class GateCheck:
    name: str
    value: float
    threshold: float
    passed: bool


def _overall(metrics: dict[str, Any], loss: str) -> float:
    try:
        return float(metrics[loss]["overall"]["reward_accuracy"])
    except (KeyError, TypeError) as err:
        raise CapoError(f"metrics for loss {loss!r} have no overall.reward_accuracy") from err


def gate_checks(metrics: dict[str, dict[str, Any]], gate: RegisterParams) -> list[GateCheck]:
    """Every check of the promotion gate, passed or not, in a fixed order."""
    acc = _overall(metrics, gate.loss)
    checks = [
        GateCheck(
            "overall reward accuracy",
            acc,
            gate.min_reward_accuracy,
            acc >= gate.min_reward_accuracy,
        )
    ]
    for lang, values in sorted(metrics[gate.loss].get("per_language", {}).items()):
        value = float(values["reward_accuracy"])
        checks.append(
            GateCheck(
                f"reward accuracy [{lang}]",
                value,
                gate.language_floor,
                value >= gate.language_floor,
            )
        )
    checks += _health_checks(metrics[gate.loss])
    base = _overall(metrics, gate.baseline)
    gain = acc - base
    checks.append(
        GateCheck(
            f"gain over {gate.baseline}",
            gain,
            gate.min_gain_over_baseline,
            gain >= gate.min_gain_over_baseline,
        )
    )
    return checks


def _health_checks(doc: dict[str, Any]) -> list[GateCheck]:
    """A model that stopped answering never passes: the evaluate stage's ``health`` block."""
    health = doc.get("health")
    if health is None:
        raise CapoError("metrics have no health block: re-run the evaluate stage")
    limits = (
        ("empty answers", "empty_rate", "max_empty_rate"),
        ("generation accuracy drop vs policy", "generation_accuracy_drop", "max_drop"),
        ("language fidelity drop vs policy", "language_fidelity_drop", "max_drop"),
    )
    return [
        GateCheck(name, float(health[key]), float(health[limit]), health[key] <= health[limit])
        for name, key, limit in limits
        if health.get(key) is not None
    ]


def gate_table(checks: list[GateCheck]) -> str:
    """The checks as a Markdown table, failures marked."""
    rows = [
        f"| {c.name} | {c.value:.4f} | {c.threshold:.4f} | {'pass' if c.passed else 'FAIL'} |"
        for c in checks
    ]
    return "\n".join(["| check | value | threshold | result |", "|---|---|---|---|", *rows])


def apply_gate(gate: RegisterParams, metrics_dir: Path) -> tuple[dict[str, dict], str]:
    """(metrics of the gate's losses, the checks table); a CapoError with the table if any fails."""
    metrics = load_metrics(metrics_dir, [gate.loss, gate.baseline])
    checks = gate_checks(metrics, gate)
    table = gate_table(checks)
    failed = [c.name for c in checks if not c.passed]
    if failed:
        raise CapoError(f"promotion gate failed ({', '.join(failed)}); nothing registered\n{table}")
    return metrics, table


@dataclass(frozen=True)
class CardInfo:
    name: str
    base_model: str
    languages: list[str]
    loss: str  # the registered loss's name (register.loss)
    settings: dict[
        str, Any
    ]  # exactly what it trained with (capo_pipelines.data.contract.settings_document)
    metrics: dict[str, Any]  # the promoted loss's metrics file
    baseline_metrics: dict[str, Any] | None
    data_md5: str  # DVC's md5 of the training data file
    weights_md5: str  # md5 of the packaged model.safetensors
    license: str = "other"
    dataset: str = "capo-builtin-multilingual-benchmark"


def file_md5(path: Path) -> str:
    """md5 of a file's bytes: the hash DVC records for a file in dvc.lock."""
    digest = hashlib.md5(usedforsecurity=False)
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _model_index(info: CardInfo) -> list[dict[str, Any]]:
    results = [
        {
            "task": {"type": "text-generation", "name": "preference alignment"},
            "dataset": {"name": f"{info.dataset} ({lang})", "type": info.dataset, "split": "test"},
            "metrics": [
                {"type": "reward_accuracy", "value": round(v["reward_accuracy"], 4)},
                {"type": "reward_margin", "value": round(v.get("reward_margin", 0.0), 4)},
            ],
        }
        for lang, v in sorted(info.metrics.get("per_language", {}).items())
    ]
    return [{"name": info.name, "results": results}]


def model_card(info: CardInfo) -> str:
    """README.md with Hugging Face YAML metadata and the per-language metrics."""
    meta = {
        "language": info.languages,
        "license": info.license,
        "base_model": info.base_model,
        "datasets": [info.dataset],
        "library_name": "transformers",
        "tags": ["capo", "preference-optimization", "dpo", "trl", "multilingual"],
        "model-index": _model_index(info),
    }
    base = (info.baseline_metrics or {}).get("per_language", {})
    rows = [
        f"| {lang} | {v['reward_accuracy']:.3f} | {v.get('reward_margin', float('nan')):.3f} "
        f"| {base.get(lang, {}).get('reward_accuracy', float('nan')):.3f} |"
        for lang, v in sorted(info.metrics.get("per_language", {}).items())
    ]
    settings = ", ".join(f"{key}={value}" for key, value in info.settings.items())
    body = [
        f"# {info.name}",
        "",
        f"A policy aligned with {info.loss.upper()} (Confidence-Aware Preference Optimization, "
        f"arXiv:2511.07691) by the capo pipeline, from `{info.base_model}`.",
        "",
        "## Test metrics per language",
        "",
        "| language | reward accuracy | reward margin | DPO reward accuracy |",
        "|---|---|---|---|",
        *rows,
        "",
        f"Overall reward accuracy: {info.metrics['overall']['reward_accuracy']:.4f}",
        "",
        "## Training",
        "",
        f"- loss: `{info.loss}`, {settings}",
        f"- training data (DVC md5): `{info.data_md5}`",
        f"- weights (md5 of model.safetensors): `{info.weights_md5}`",
        "- code: the git commit whose dvc.lock records this package (`git log -- dvc.lock`);",
        "  the card names no commit itself, so reproducing it gives the same bytes",
        "",
    ]
    front = yaml.safe_dump(meta, sort_keys=False, allow_unicode=True)
    return f"---\n{front}---\n\n" + "\n".join(body)


def package_model(model_dir: Path, out_dir: Path, card: str) -> list[Path]:
    """Copy weights (safetensors only), tokenizer and config into ``out_dir`` with the card."""
    weights = sorted(model_dir.glob("*.safetensors"))
    if not weights:
        raise CapoError(f"{model_dir}: no *.safetensors weights to register")
    if out_dir.exists():
        shutil.rmtree(out_dir)
    out_dir.mkdir(parents=True)
    copied = []
    for pattern in PACKAGE_FILES:
        for src in sorted(model_dir.glob(pattern)):
            if src.is_file() and not (out_dir / src.name).exists():
                copied.append(Path(shutil.copy2(src, out_dir / src.name)))
    (out_dir / "README.md").write_text(card, encoding="utf-8")
    return [*copied, out_dir / "README.md"]


# ---- DVC's record of the model folder ----------------------------------------------------


@dataclass(frozen=True)
class _Record:
    md5: str  # DVC's md5 of the folder: "<md5 of its file list>.dir"
    where: str  # where DVC keeps it, for messages
    commit: str  # `dvc commit --force` target: the stage or the .dvc file
    redo: str  # how to write the folder again


def _repo_root(path: Path) -> Path:
    for folder in (path, *path.parents):
        if (folder / ".dvc").is_dir():
            return folder
    raise CapoError(f"{path}: not inside a DVC repository, so there is no record to check it by")


def _dvc_record(model_dir: Path, root: Path) -> _Record:
    """The out of a dvc.lock stage (from ``model_dir``'s folder up to ``root``) or the .dvc
    file that records ``model_dir``."""
    target = model_dir.resolve()
    dvcfile = target.with_name(target.name + ".dvc")
    if dvcfile.is_file():
        for out in (yaml.safe_load(dvcfile.read_text(encoding="utf-8")) or {}).get("outs", []):
            if (dvcfile.parent / out["path"]).resolve() == target:
                rel = os.path.relpath(dvcfile, Path.cwd())
                redo = f"recreate {model_dir} and `dvc add {model_dir}`"
                return _record(out, rel, rel, redo)
    for folder in (target.parent, *target.parent.parents):
        lock = folder / "dvc.lock"
        if lock.is_file():
            stages = (yaml.safe_load(lock.read_text(encoding="utf-8")) or {}).get("stages", {})
            for name, stage in stages.items():
                for out in stage.get("outs", []):
                    if (folder / out["path"]).resolve() == target:
                        where = f"{os.path.relpath(lock, Path.cwd())} stage {name}"
                        redo = f"rerun the stage: `dvc repro --force --single-item {name}`"
                        return _record(out, where, name, redo)
        if folder == root:
            break
    raise CapoError(
        f"{model_dir}: no dvc.lock stage or .dvc file records it, so its bytes cannot be "
        "checked: produce it with `dvc repro` first"
    )


def _record(out: dict[str, Any], where: str, commit: str, redo: str) -> _Record:
    md5 = str(out.get("md5", ""))
    if out.get("hash") != "md5" or not md5.endswith(".dir"):
        raise CapoError(
            f"{where} records {out.get('path')} as {md5 or 'nothing'} (hash {out.get('hash')}), "
            "not a folder with DVC 3's md5: run `dvc commit --force` for it with DVC 3"
        )
    return _Record(md5, where, commit, redo)


def _cache_dir(root: Path) -> Path:
    """DVC's cache of md5-named files (``cache.dir`` from the repository's config, resolved)."""
    from dvc.config import Config

    configured = Config(dvc_dir=str(root / ".dvc"))["cache"].get("dir")
    return Path(configured or root / ".dvc" / "cache") / "files" / "md5"


def _cache_path(cache: Path, md5: str) -> Path:
    return cache / md5[:2] / md5[2:]


def _listing(files: dict[str, str]) -> bytes:
    """The bytes DVC stores as a folder's file list (dvc_data Tree.as_bytes, no meta)."""
    rows = [{"md5": files[rel], "relpath": rel} for rel in sorted(files)]
    return json.dumps(rows, sort_keys=True).encode("utf-8")


def _recorded_files(cache: Path, record: _Record) -> dict[str, str] | None:
    """relpath -> md5 from the cached file list of ``record``; None when it is not cached or
    not the list DVC recorded."""
    path = _cache_path(cache, record.md5)
    if not path.is_file() or file_md5(path) + ".dir" != record.md5:
        return None
    return {row["relpath"]: row["md5"] for row in json.loads(path.read_text(encoding="utf-8"))}


def check_dvc_record(model_dir: Path) -> dict[str, str]:
    """md5 of every file of ``model_dir`` (relpath -> md5), checked against the hashes DVC
    recorded for it and against DVC's cache copy of each file; a CapoError naming the first
    file that differs and what to do otherwise."""
    root = _repo_root(model_dir.resolve())
    record = _dvc_record(model_dir, root)
    files = {
        path.relative_to(model_dir).as_posix(): file_md5(path)
        for path in sorted(model_dir.rglob("*"))
        if path.is_file()
    }
    cache = _cache_dir(root)
    actual = hashlib.md5(_listing(files), usedforsecurity=False).hexdigest() + ".dir"
    if actual != record.md5:
        _raise_difference(model_dir, files, cache, record)
    for rel, md5 in files.items():  # the workspace matches: the cache copies DVC would ship
        copy = _cache_path(cache, md5)
        if not copy.is_file() or os.path.samefile(copy, model_dir / rel):
            continue  # not cached (--no-commit, not pulled), or the very same file
        found = file_md5(copy)
        if found != md5:
            raise CapoError(
                f"{model_dir / rel}: DVC's cache copy {copy} is corrupt (md5 {found}, not {md5}) "
                f"and the package would be stored from it: delete it, then "
                f"`dvc commit --force {record.commit}` and register again"
            )
    return files


def _raise_difference(model_dir: Path, files: dict[str, str], cache: Path, record: _Record) -> None:
    recorded = _recorded_files(cache, record)
    if recorded is None:
        raise CapoError(
            f"{model_dir}: its files differ from DVC's record ({record.where}: {record.md5}), "
            f"whose file list is not in the DVC cache {cache} to name the file: delete the "
            f"folder, then `dvc pull {model_dir}` or {record.redo}"
        )
    for rel in sorted(set(files) | set(recorded)):
        path, expected = model_dir / rel, recorded.get(rel)
        if expected is None:
            raise CapoError(
                f"{path}: not in DVC's record of {model_dir} ({record.where}): delete it, "
                f"or {record.redo}"
            )
        if files.get(rel) == expected:
            continue
        found = "missing" if rel not in files else f"md5 {files[rel]}"
        copy = _cache_path(cache, expected)
        if not copy.is_file():
            pull = f"`dvc pull {model_dir}`"
            fix = f"not in DVC's cache either: delete it, then {pull} or {record.redo}"
        elif file_md5(copy) != expected:
            fix = f"DVC's cache copy {copy} is corrupt too: delete it, then {record.redo}"
        else:
            fix = (  # not `dvc checkout --force`: DVC keeps a file whose size and mtime it knows
                f"restore it from DVC's cache: delete it, then `dvc checkout {model_dir}`"
            )
        raise CapoError(
            f"{path}: {found}, but DVC recorded md5 {expected} ({record.where}); {fix}; "
            "then register again"
        )
    raise CapoError(f"{model_dir}: its files differ from DVC's record ({record.where})")
