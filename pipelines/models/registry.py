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

from capo.errors import CapoError
from capo_pipelines.evaluation.comparison import load_metrics
from capo_pipelines.params import BUILTIN_MODEL, RegisterParams
from capo_pipelines.params.results import UNDECIDED

__all__ = [
    "LICENSE_FILE",
    "CardInfo",
    "GateCheck",
    "apply_gate",
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
