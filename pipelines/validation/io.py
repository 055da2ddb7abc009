"""Read data/pairs and write the validate stage's outputs (Parquet, metrics JSON)."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pandas as pd

from capo.errors import CapoError
from capo_pipelines.validation.suite import SPLITS
from capo_pipelines.validation.validator import ValidationRun

__all__ = ["load_pairs", "write_outputs"]

log = logging.getLogger(__name__)


def load_pairs(pairs_dir: Path) -> pd.DataFrame:
    """train.parquet and test.parquet of ``pairs_dir`` as one frame, in that order."""
    frames = []
    for split in SPLITS:
        path = pairs_dir / f"{split}.parquet"
        try:
            frame = pd.read_parquet(path)
        except (OSError, ValueError) as err:
            raise CapoError(f"{path}: cannot read pairs: {err}") from err
        if "split" in frame and (frame["split"] != split).any():
            log.warning("%s: %d rows say another split", path, int((frame["split"] != split).sum()))
        frames.append(frame)
    return pd.concat(frames, ignore_index=True)


def _parquet_safe(df: pd.DataFrame) -> pd.DataFrame:
    """Object columns mixing strings with other values become strings (nulls kept)."""
    out = df.copy()
    for column in out.select_dtypes(include="object").columns:
        values = out[column].dropna()
        kinds = {type(v) for v in values}
        if len(kinds) > 1 and str in kinds:
            out[column] = out[column].map(lambda v: v if v is None or v != v else str(v))
    return out


def write_outputs(run: ValidationRun, out_dir: Path, reports_dir: Path) -> None:
    """Accepted train/test, quarantine.parquet and validation.json."""
    out_dir.mkdir(parents=True, exist_ok=True)
    reports_dir.mkdir(parents=True, exist_ok=True)
    for split, frame in run.accepted_splits().items():
        frame.to_parquet(out_dir / f"{split}.parquet", index=False)
    _parquet_safe(run.quarantined).to_parquet(out_dir / "quarantine.parquet", index=False)
    metrics = json.dumps(run.metrics(), indent=2, ensure_ascii=False, allow_nan=False)
    (reports_dir / "validation.json").write_text(metrics + "\n", encoding="utf-8")
    log.info("wrote %s and %s", out_dir, reports_dir / "validation.json")
