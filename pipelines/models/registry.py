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
from capo_pipelines.params import BUILTIN_MODEL, RegisterParams
from capo_pipelines.params.results import UNDECIDED

__all__ = [
    "LICENSE_FILE",
    "CardInfo",
    "GateCheck",
    "apply_gate",
    "check_dvc_record",
    "gate_checks",
    "gate_table",
    "hub_model_id",
    "license_document",
    "loss_description",
    "model_card",
    "model_card_data",
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
    base_model: str  # policy.model: builtin-tiny, a Hub id or a local path
    languages: list[str]
    loss: str  # the registered loss's name (register.loss)
    settings: dict[
        str, Any
    ]  # exactly what it trained with (capo_pipelines.data.contract.settings_document)
    metrics: dict[str, Any]  # the promoted loss's metrics file
    baseline_metrics: dict[str, Any] | None
    data_md5: str  # DVC's md5 of the training data file
    weights_md5: str  # md5 of the packaged model.safetensors
    license: str = "other"  # a Hub license id, or other (then license_name, license_link)
    dataset: str = "capo-builtin-multilingual-benchmark"
    baseline: str = "sigmoid"  # register.baseline: the loss the comparison column shows
    license_name: str | None = UNDECIDED  # license other: its id
    license_link: str | None = None  # license other: URL of its text; None: LICENSE_FILE


def file_md5(path: Path) -> str:
    """md5 of a file's bytes: the hash DVC records for a file in dvc.lock."""
    digest = hashlib.md5(usedforsecurity=False)
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


# The model card's metadata (huggingface.co/docs/hub/model-cards; tests/test_hub_cards.py
# checks every value against the Hub's documented lists).
PIPELINE_TAG = "text-generation"
LIBRARY_NAME = "transformers"
CARD_TAGS = ("capo", "preference-optimization", "dpo", "trl", "multilingual")
LICENSE_FILE = "LICENSE.md"  # written into the package when license_link is None
# Metrics of the evaluate stage the card's model-index reports, with their display names.
CARD_METRICS = {
    "reward_accuracy": "Reward accuracy",
    "reward_margin": "Reward margin",
    "generation_accuracy": "Generation accuracy",
    "language_fidelity": "Language fidelity",
}
_LOSS_NAMES = {
    "capo": "CAPO (Confidence-Aware Preference Optimization, arXiv:2511.07691)",
    "sigmoid": "DPO (TRL's `sigmoid` loss)",
}


def loss_description(loss: str) -> str:
    """How the card names a loss: CAPO only for capo, DPO for TRL's sigmoid, else its name."""
    return _LOSS_NAMES.get(loss, f"the `{loss}` preference loss")


def hub_model_id(model: str) -> str | None:
    """``model`` when it is a Hub model id; None for builtin-tiny, a local path or a file."""
    from huggingface_hub.errors import HFValidationError
    from huggingface_hub.utils import validate_repo_id

    if (
        model == BUILTIN_MODEL
        or model.startswith((".", "/", "~"))
        or model.count("/") > 1
        or Path(model).exists()
    ):
        return None
    try:
        validate_repo_id(model)
    except HFValidationError:
        return None
    return model


def _eval_results(info: CardInfo) -> list[Any]:
    """One EvalResult per metric: over all languages, then per language (the language is the
    dataset config, as in the Hub's multilingual results, so each is its own model-index row)."""
    from huggingface_hub import EvalResult

    scopes = [(None, info.metrics.get("overall", {}))]
    scopes += sorted(info.metrics.get("per_language", {}).items())
    return [
        EvalResult(
            task_type=PIPELINE_TAG,
            task_name="Preference alignment",
            dataset_type=info.dataset,
            dataset_name=f"{info.dataset} test split ({lang or 'all languages'})",
            dataset_config=lang,
            dataset_split="test",
            metric_type=key,
            metric_name=label,
            metric_value=round(float(values[key]), 4),
        )
        for lang, values in scopes
        for key, label in CARD_METRICS.items()
        if values.get(key) is not None
    ]


def model_card_data(info: CardInfo) -> Any:
    """The card's metadata as huggingface_hub's ModelCardData (base_model only for a Hub id)."""
    from huggingface_hub import ModelCardData

    custom = info.license == "other"
    return ModelCardData(
        language=list(info.languages),
        license=info.license,
        license_name=info.license_name if custom else None,
        license_link=(info.license_link or LICENSE_FILE) if custom else None,
        library_name=LIBRARY_NAME,
        pipeline_tag=PIPELINE_TAG,
        base_model=hub_model_id(info.base_model),
        tags=list(CARD_TAGS),
        model_name=info.name,
        eval_results=_eval_results(info),
    )


def _policy_name(model: str) -> str:
    hub_id = hub_model_id(model)
    if hub_id:
        return f"the Hub model [`{hub_id}`](https://huggingface.co/{hub_id})"
    if model == BUILTIN_MODEL:
        return f"capo's built-in tiny Llama (`{BUILTIN_MODEL}`)"
    return f"the local model `{model}`"


def _starting_policy(model: str) -> str:
    if hub_model_id(model):
        return f"{_policy_name(model)} (`base_model`)"
    if model == BUILTIN_MODEL:
        return (
            f"{_policy_name(model)}, built and trained from scratch by the pipeline; it is not "
            "on the Hub, so the metadata names no `base_model`"
        )
    return f"{_policy_name(model)}, not a Hub id, so the metadata names no `base_model`"


def model_card(info: CardInfo) -> str:
    """README.md: huggingface_hub's ModelCard, the metadata of model_card_data, the metrics
    per language against the configured baseline, and how it was trained."""
    from huggingface_hub import ModelCard

    base = (info.baseline_metrics or {}).get("per_language", {})
    nan = float("nan")
    rows = [
        f"| {lang} | {v['reward_accuracy']:.3f} | {v.get('reward_margin', nan):.3f} "
        f"| {base.get(lang, {}).get('reward_accuracy', nan):.3f} |"
        for lang, v in sorted(info.metrics.get("per_language", {}).items())
    ]
    overall = f"Overall reward accuracy: {info.metrics['overall']['reward_accuracy']:.4f}"
    if info.baseline_metrics:
        baseline_acc = info.baseline_metrics["overall"]["reward_accuracy"]
        overall += f" (baseline `{info.baseline}`: {baseline_acc:.4f})"
    settings = ", ".join(f"{key}={value}" for key, value in info.settings.items())
    if info.license != "other":
        license_text = f"`{info.license}`."
    elif info.license_link:
        license_text = f"`{info.license_name}`: {info.license_link}"
    else:
        license_text = f"`{info.license_name}`: see [{LICENSE_FILE}]({LICENSE_FILE})."
    body = [
        f"# {info.name}",
        "",
        f"A policy aligned with {loss_description(info.loss)} by the capo pipeline.",
        f"Starting policy: {_starting_policy(info.base_model)}.",
        "",
        "## Test metrics per language",
        "",
        f"| language | reward accuracy | reward margin | `{info.baseline}` reward accuracy |",
        "|---|---|---|---|",
        *rows,
        "",
        overall,
        "",
        "## Training",
        "",
        f"- loss: `{info.loss}`, {settings}",
        f"- training data (DVC md5): `{info.data_md5}`",
        f"- weights (md5 of model.safetensors): `{info.weights_md5}`",
        "- code: the git commit whose dvc.lock records this package (`git log -- dvc.lock`);",
        "  the card names no commit itself, so reproducing it gives the same bytes",
        "",
        "## License",
        "",
        license_text,
        "",
    ]
    content = f"---\n{model_card_data(info).to_yaml()}\n---\n\n" + "\n".join(body)
    return str(ModelCard(content))


def license_document(info: CardInfo) -> str | None:
    """LICENSE_FILE's text when the card links to it (license other without a link), else None."""
    if info.license != "other" or info.license_link:
        return None
    return "\n".join(
        [
            f"# License of {info.name}: {info.license_name}",
            "",
            "No license has been chosen for this model yet. capo's params.yaml sets",
            f"`register.license: other` with `license_name: {info.license_name}`, a placeholder",
            "until its maintainers choose one: a license id of",
            "https://huggingface.co/docs/hub/repositories-licenses in `register.license`, or",
            "`license_name` and `license_link` for another license.",
            "",
            f"The weights derive from the starting policy, {_policy_name(info.base_model)},",
            "and from the training data; their licenses are theirs.",
            "",
        ]
    )


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
