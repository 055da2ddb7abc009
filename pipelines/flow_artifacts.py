"""Prefect artifacts of a pipeline run: the per-language table, the comparison and its charts.

The table is a table artifact (sortable in the UI); each chart of reports/figures is an image
artifact whose URL is the PNG itself as a data URI, which the Prefect UI shows inline (an
image artifact is an <img> of its URL; nothing needs to be hosted); the comparison's Markdown
is a Markdown artifact whose chart links point at those image artifacts instead of files the
UI cannot reach.
"""

from __future__ import annotations

import base64
import json
import re
from pathlib import Path
from typing import Any

from prefect.artifacts import (
    create_image_artifact,
    create_markdown_artifact,
    create_table_artifact,
)

__all__ = ["language_table", "publish_artifacts"]

METRICS_DIR = "metrics"  # evaluate's metrics/<loss>.json
FIGURES_DIR = "reports/figures"  # compare's charts
COMPARISON_MD = "reports/comparison.md"
IMAGE_LINK = re.compile(r"!\[[^\]]*\]\((?:\./)?figures/(?P<name>[\w.-]+)\.png\)")


def _key(name: str) -> str:
    """An artifact key: lowercase letters, digits and dashes only."""
    return "capo-" + re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")


def _losses(root: Path) -> list[str] | None:
    """params.yaml's train.losses, or None when it cannot be read (then: every metrics file)."""
    try:
        from capo_pipelines.params import load_params

        return list(load_params(root / "params.yaml").train.losses)
    except Exception:
        return None


def language_table(metrics: dict[str, dict[str, Any]]) -> list[dict[str, Any]]:
    """One row per language (overall last): test pairs and each loss's reward accuracy."""
    langs = sorted({lang for doc in metrics.values() for lang in doc.get("per_language", {})})
    rows = []
    for lang in [*langs, "all"]:
        row: dict[str, Any] = {"language": lang}
        for loss, doc in metrics.items():
            group = doc["overall"] if lang == "all" else doc.get("per_language", {}).get(lang, {})
            row.setdefault("test pairs", group.get("pairs"))
            value = group.get("reward_accuracy")
            row[f"{loss} reward acc."] = None if value is None else round(float(value), 4)
        rows.append(row)
    return rows


def publish_artifacts(root: Path) -> list[str]:
    """Create the run's artifacts from ``root``'s outputs; returns the artifact keys."""
    keys: list[str] = []
    metrics = {
        path.stem: json.loads(path.read_text(encoding="utf-8"))
        for path in sorted((root / METRICS_DIR).glob("*.json"))
    }
    losses = _losses(root)  # files of losses no longer in train.losses are stale: left out
    metrics = {
        loss: doc
        for loss, doc in metrics.items()
        if "overall" in doc and (losses is None or loss in losses)
    }
    if metrics:
        create_table_artifact(
            table=language_table(metrics),
            key="capo-reward-accuracy",
            description="Test reward accuracy of every loss in train.losses, per language",
        )
        keys.append("capo-reward-accuracy")
    for png in sorted((root / FIGURES_DIR).glob("*.png")):
        data = base64.b64encode(png.read_bytes()).decode("ascii")
        key = _key(png.stem)
        create_image_artifact(
            image_url=f"data:image/png;base64,{data}",
            key=key,
            description=f"{FIGURES_DIR}/{png.name}",
        )
        keys.append(key)
    report = root / COMPARISON_MD
    if report.is_file():
        text = IMAGE_LINK.sub(
            lambda m: f"*(chart: image artifact `{_key(m['name'])}`)*",
            report.read_text(encoding="utf-8"),
        )
        create_markdown_artifact(
            key="capo-comparison",
            markdown=text,
            description="CAPO against the baselines, per language",
        )
        keys.append("capo-comparison")
    return keys
