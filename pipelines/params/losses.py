"""Each loss's settings as it trains with them: the library half of the loss_settings stage.

    settings = loss_settings("capo", params)     # LossSettings(beta=0.1, gamma=1.0, ...)
    write_loss_settings("sigmoid", params, "data/loss_settings")   # {"beta": 0.1, ...}
    settings = read_loss_settings("data/loss_settings/sigmoid.json")

A loss trains with params.yaml's `loss:` section under its own train.loss_overrides entry.
The stage writes exactly what each loss reads (READS: CAPO's eight settings for capo, beta and
label_smoothing for cdpo and a TRL loss, beta, offset_scale and use_scores for odpo, beta and
the selection thresholds for filtered) to data/loss_settings/<loss>.json, so a CAPO-only
change leaves the other losses' files, and their training, as they were (docs/design.md §2).
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

from capo.errors import CapoError
from capo.settings import CORE_LOSSES, SELECTION_SETTINGS, TRL_SETTINGS, LossSettings
from capo_pipelines.params import KNOWN_LOSSES, SELECTION_LOSSES, Params

__all__ = [
    "READS",
    "check_loss",
    "loss_settings",
    "read_loss_settings",
    "reward_beta",
    "settings_document",
    "settings_path",
    "write_loss_settings",
]


# The settings each loss reads, by name; a loss not named here is a TRL loss (TRL_SETTINGS).
READS: dict[str, tuple[str, ...]] = {
    **CORE_LOSSES,
    **{loss: ("beta", *SELECTION_SETTINGS) for loss in SELECTION_LOSSES},
}


def check_loss(loss: str, params: Params) -> None:
    """A CapoError unless ``loss`` is known and in params train.losses."""
    if loss not in KNOWN_LOSSES:
        raise CapoError(f"unknown loss {loss!r} (known: {', '.join(KNOWN_LOSSES)})")
    if loss not in params.train.losses:
        raise CapoError(f"loss {loss!r} is not in params train.losses {list(params.train.losses)}")


def loss_settings(loss: str, params: Params) -> LossSettings:
    """The settings ``loss`` trains with: params.loss under its train.loss_overrides entry.

    The loss_settings stage writes them once per loss; train and evaluate read that file
    (read_loss_settings) instead of calling this again."""
    check_loss(loss, params)
    return dataclasses.replace(params.loss, **params.train.loss_overrides.get(loss, {}))


def reward_beta(settings: LossSettings, params: Params) -> float:
    """The beta that evaluation scales rewards with: evaluate.beta, else the loss's own (from
    the loss's settings file, the same object training read)."""
    if params.evaluate.beta is not None:
        return params.evaluate.beta
    return float(settings.beta)


def settings_document(loss: str, params: Params) -> dict[str, Any]:
    """Exactly the settings ``loss`` reads, by name (READS; TRL_SETTINGS for a TRL loss), so a
    change to one loss's settings leaves every other loss's document as it was."""
    settings = dataclasses.asdict(loss_settings(loss, params))
    return {k: settings[k] for k in READS.get(loss, TRL_SETTINGS)}


def settings_path(folder: str | Path, loss: str) -> Path:
    """Where the loss_settings stage keeps one loss's settings: <folder>/<loss>.json."""
    return Path(folder) / f"{loss}.json"


def write_loss_settings(loss: str, params: Params, folder: str | Path) -> Path:
    """Write settings_document as JSON with sorted keys (same settings, same bytes)."""
    path = settings_path(folder, loss)
    path.parent.mkdir(parents=True, exist_ok=True)
    text = json.dumps(settings_document(loss, params), indent=1, sort_keys=True) + "\n"
    path.write_text(text, encoding="utf-8")
    return path


def read_loss_settings(path: str | Path) -> LossSettings:
    """The LossSettings of a settings file; fields it lacks keep LossSettings' defaults."""
    path = Path(path)
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except OSError as err:
        raise CapoError(f"{path}: cannot read loss settings: {err.strerror or err}") from err
    except ValueError as err:
        raise CapoError(f"{path}: not valid JSON: {err}") from err
    if not isinstance(doc, dict) or "beta" not in doc:
        raise CapoError(f"{path}: expected a JSON object of loss settings with a beta")
    unknown = sorted(set(doc) - {f.name for f in dataclasses.fields(LossSettings)})
    if unknown:
        raise CapoError(f"{path}: unknown loss settings {unknown}")
    return LossSettings(**doc)
