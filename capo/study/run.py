"""The label-noise study: every loss variant at every noise level and seed, in one process.

    result = run_study(load_params("params.yaml"), work_dir="/tmp/capo-study")
    result["runs"]      # one record per (variant, noise, seed), measured on the clean test split
    result["settings"]  # each variant's settings, chosen on the validation split

It calls the same capo functions as the DVC stages (benchmark, policy SFT, reference
log-probs, CAPOTrainer, evaluation), without the DVC and Great Expectations overhead, so 45
training runs fit in minutes. Per seed, one SFT policy serves every noise level: the SFT
demonstrations are clean and the benchmark's pairs are the same at every level (only their
labels differ), so the levels differ in nothing but the noise. Tuning grids are searched at
``study.tune_noise`` and ``study.tune_seed`` by reward accuracy on the validation split
(never the test split), among settings whose answers stay healthy; ties keep the first.
"""

from __future__ import annotations

import dataclasses
import itertools
import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pandas as pd
from tqdm.auto import tqdm

from capo.data.benchmark import demonstrations, generate_benchmark
from capo.evaluation.evaluate import (
    GENERATION_METRICS,
    generation_of,
    metrics_document,
    rewards_of,
    with_health,
)
from capo.evaluation.metrics import summarize
from capo.pairs import REFERENCE_KEY, join_reference
from capo.params import Params, StudyVariant
from capo.policy import load_pretrained, prepare_policy
from capo.reference import reference_logps
from capo.training import train_loss

__all__ = ["StudyData", "run_study", "variant_params"]

logger = logging.getLogger(__name__)

RUN_METRICS = (
    "reward_accuracy",
    "reward_margin",
    "generation_accuracy",
    "language_fidelity",
    "empty_rate",
)


@dataclasses.dataclass
class StudyData:
    """One seed's policy and its pairs with reference log-probs, per noise level."""

    seed: int
    policy_dir: Path
    train: dict[float, pd.DataFrame]  # noise level -> training pairs
    validation: pd.DataFrame
    test: pd.DataFrame
    policy_metrics: dict[str, Any]  # the SFT policy's generation on the test split


def variant_params(params: Params, variant: StudyVariant, settings: dict[str, float]) -> Params:
    """``params`` set up to train ``variant`` alone with ``settings`` over its defaults."""
    loss = dataclasses.replace(params.loss, type=variant.loss, **{**variant.settings, **settings})
    train = dataclasses.replace(
        params.train, losses=(variant.loss,), loss_overrides={}, save_steps=10**9
    )
    return dataclasses.replace(params, loss=loss, train=train)


def _bench(params: Params, noise: float) -> Any:
    return dataclasses.replace(params.ingest.benchmark, noise=noise, noise_by_language={})


def _with_reference(model: Any, tok: Any, pairs: pd.DataFrame, params: Params) -> pd.DataFrame:
    ref = reference_logps(
        model,
        tok,
        pairs,
        batch_size=params.reference.batch_size,
        max_length=params.policy.max_length,
    )
    return join_reference(pairs, ref, "reference log-probs")


def prepare_seed(params: Params, seed: int, work: Path) -> StudyData:
    """SFT the seed's policy on clean demonstrations; pairs of every level with references."""
    study = params.study
    levels = sorted({*study.noise, study.tune_noise})
    splits = {
        noise: pd.DataFrame(generate_benchmark(_bench(params, noise), seed, study.validation_pairs))
        for noise in levels
    }
    clean = splits[levels[0]]
    demos = pd.DataFrame(demonstrations(_bench(params, 0.0), seed))
    policy_dir = work / f"policy-{seed}"
    prepare_policy(
        params.policy, clean[clean["split"] == "train"], policy_dir, seed, demonstrations=demos
    )
    model, tok = load_pretrained(str(policy_dir))
    train = {
        noise: _with_reference(model, tok, frame[frame["split"] == "train"], params)
        for noise, frame in splits.items()
    }
    held = {
        split: _with_reference(model, tok, clean[clean["split"] == split], params)
        for split in ("validation", "test")
    }
    answers = generation_of(model, tok, held["test"], params)
    policy_metrics = summarize(answers, GENERATION_METRICS)
    return StudyData(seed, policy_dir, train, held["validation"], held["test"], policy_metrics)


def evaluate_run(
    params: Params,
    data: StudyData,
    variant: StudyVariant,
    settings: dict[str, float],
    noise: float,
    split: str,
    work: Path,
) -> dict[str, Any]:
    """Train ``variant`` on the seed's pairs at ``noise``; its metrics document on ``split``."""
    run_params = variant_params(dataclasses.replace(params, seed=data.seed), variant, settings)
    out = work / "run"
    train_loss(
        variant.loss,
        run_params,
        data.policy_dir,
        data.train[noise],
        None,
        out_dir=out / "model",
        checkpoint_dir=out / "checkpoints",
    )
    model, tok = load_pretrained(str(out / "model"))
    pairs = data.test if split == "test" else data.validation
    reference = pairs[list(REFERENCE_KEY)]
    rewards = rewards_of(model, tok, pairs, reference, run_params.loss.beta, params)
    doc = metrics_document(rewards, generation_of(model, tok, pairs, params))
    doc["reference"] = {"overall": data.policy_metrics["overall"]}
    doc = with_health(doc, params)
    weights = pd.read_parquet(out / "model" / "pair_weights.parquet")
    doc["noise_weights"] = _noise_weights(data.train[noise], weights)
    return doc


def _noise_weights(pairs: pd.DataFrame, weights: pd.DataFrame) -> dict[str, float | None]:
    """Mean CAPO weight w of noisy and of clean training pairs under the trained model."""
    joined = pairs[["id", "label_flipped"]].merge(weights[["id", "w"]], on="id")
    means = joined.groupby("label_flipped")["w"].mean()
    return {"noisy_mean_w": means.get(True), "clean_mean_w": means.get(False)}


def record(doc: dict[str, Any], variant: str, noise: float, seed: int, settings: dict) -> dict:
    """One run's record for reports/noise_study.json."""
    rec = {"loss": variant, "noise": noise, "seed": seed, "settings": settings}
    rec.update({k: doc["overall"].get(k) for k in RUN_METRICS})
    rec["degenerate"] = doc["health"]["degenerate"]
    rec.update({k: v for k, v in doc.get("noise_weights", {}).items()})
    rec["per_language"] = {
        lang: {k: v.get(k) for k in RUN_METRICS} for lang, v in sorted(doc["per_language"].items())
    }
    return rec


def _grid(variant: StudyVariant) -> Iterator[dict[str, float]]:
    keys = sorted(variant.grid)
    for values in itertools.product(*(variant.grid[k] for k in keys)):
        yield dict(zip(keys, values, strict=True))


def tune(params: Params, data: StudyData, work: Path, bar: Any) -> tuple[dict, list[dict]]:
    """Each variant's settings: the grid point with the best validation reward accuracy."""
    chosen, trials = {}, []
    for variant in params.study.variants:
        best: tuple[float, dict] | None = None
        for settings in _grid(variant):
            doc = evaluate_run(
                params, data, variant, settings, params.study.tune_noise, "validation", work
            )
            trial = record(doc, variant.name, params.study.tune_noise, data.seed, settings)
            trials.append(trial)
            bar.update(1)
            score = -1.0 if trial["degenerate"] else trial["reward_accuracy"]
            if best is None or score > best[0]:
                best = (score, settings)
        chosen[variant.name] = best[1] if best else {}
    return chosen, trials


def run_study(params: Params, work_dir: str | Path) -> dict[str, Any]:
    """Tune on validation, then run every variant x noise x seed; returns the study JSON."""
    study, work = params.study, Path(work_dir)
    grid_runs = sum(len(list(_grid(v))) for v in study.variants)  # no grid: one trial
    total = grid_runs + len(study.variants) * len(study.noise) * len(study.seeds)
    data_by_seed: dict[int, StudyData] = {}
    with tqdm(total=total, desc="noise study", unit="run") as bar:
        seeds = [study.tune_seed, *(s for s in study.seeds if s != study.tune_seed)]
        chosen: dict[str, dict] = {}
        trials: list[dict] = []
        runs: list[dict] = []
        for seed in seeds:
            data = data_by_seed[seed] = prepare_seed(params, seed, work)
            if seed == study.tune_seed:
                chosen, trials = tune(params, data, work, bar)
            if seed not in study.seeds:
                continue
            for noise, variant in itertools.product(study.noise, study.variants):
                settings = chosen[variant.name]
                doc = evaluate_run(params, data, variant, settings, noise, "test", work)
                runs.append(record(doc, variant.name, noise, seed, settings))
                bar.update(1)
    policies = [
        {"seed": s, **d.policy_metrics["overall"], "per_language": d.policy_metrics["per_language"]}
        for s, d in sorted(data_by_seed.items())
        if s in study.seeds
    ]
    return {"settings": chosen, "tuning": trials, "policies": policies, "runs": runs}
