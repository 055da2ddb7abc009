"""Model registration: the promotion gate, the Hugging Face style model card, the package.

    checks = gate_checks(metrics_by_loss, params.register)
    if all(c.passed for c in checks):
        package_model(Path("models/capo"), Path("models/registry/capo-policy"), card)

Metrics files are the evaluate stage's ``metrics/<loss>.json``: ``{"overall": {...},
"per_language": {lang: {...}}}`` with ``reward_accuracy`` and ``reward_margin`` keys.
"""

from __future__ import annotations

import hashlib
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
