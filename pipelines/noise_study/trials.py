"""The noise study: every variant in every noise regime and seed, trials in parallel processes.

    result = run_study(load_params("params.yaml"), work_dir="/tmp/capo-study")
    result["runs"]      # one record per (variant, regime, seed), on the clean test split
    result["settings"]  # per regime, each variant's settings chosen on the validation split
    result["signals"]   # per regime and seed: how well each signal separates noisy pairs (AUC)

It calls the same capo functions as the DVC stages (benchmark, policy SFT, reference
log-probs, CAPOTrainer, evaluation), without the DVC and Great Expectations overhead. Three
phases, each a set of independent trials spread over ``study.workers`` processes (one torch
thread each; ``workers: 1`` runs them in this process):

1. per seed, SFT a policy (``study.sft_questions``/``sft_share``/``sft_epochs``) and compute
   reference log-probs of every regime's pairs; the pairs of one seed are the same in every
   regime, only their labels (and scores) differ;
2. per regime, search each variant's grid at ``study.tune_seed`` by validation reward
   accuracy among settings whose answers stay healthy (ties keep the first);
3. every variant x regime x seed with its chosen settings, measured on the test split.

The test split is never used for a choice.
"""

from __future__ import annotations

import dataclasses
import fnmatch
import itertools
import json
import logging
import math
import os
import shutil
import socket
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from tqdm.auto import tqdm

from capo.settings import LossSettings
from capo_pipelines.noise_study.store import TrialStore, fingerprint
from capo_pipelines.params import Params, StudyRegime, StudyVariant
from capo_pipelines.params.study_schema import TRAIN_KNOBS, tuning_points

__all__ = [
    "FAIL_ENV",
    "Trial",
    "auc",
    "execute_trial",
    "regime_benchmark",
    "run_study",
    "signal_aucs",
    "variant_params",
]

logger = logging.getLogger(__name__)

RUN_METRICS = (
    "reward_accuracy",
    "reward_margin",
    "generation_accuracy",
    "language_fidelity",
    "empty_rate",
)


def auc(signal: Sequence[float], clean: Sequence[bool]) -> float | None:
    """P(signal of a clean pair > signal of a noisy pair), ties counted half (Mann-Whitney).

    None when either class is empty or a signal value is missing for all of a class.
    """
    from scipy.stats import rankdata

    x = np.asarray(signal, dtype=float)
    y = np.asarray(clean, dtype=bool)
    keep = ~np.isnan(x)
    x, y = x[keep], y[keep]
    n_pos, n_neg = int(y.sum()), int((~y).sum())
    if not n_pos or not n_neg:
        return None
    ranks = rankdata(x)
    return float((ranks[y].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


def _learnable(pairs: pd.DataFrame) -> pd.DataFrame:
    """The pairs that noise may hit (same-language rejections), as the benchmark defines."""
    return pairs[pairs["rejected_kind"] != "wrong_language"]


def signal_aucs(pairs: pd.DataFrame) -> dict[str, float | None]:
    """AUC for "clean" of each signal on the learnable training pairs.

    score_difference: s_w - s_l (CAPO's q_s), scored pairs only; translation_confidence
    (q_t); reference_preference: log pi_ref(y_w) - log pi_ref(y_l), what the starting policy
    already prefers.
    """
    from capo_pipelines.data.contract import reference_arrays

    pairs = _learnable(pairs)
    clean = ~pairs["label_flipped"].astype(bool)
    ref_chosen, ref_rejected = reference_arrays(pairs)
    out = {
        "score_difference": auc(pairs["score_chosen"] - pairs["score_rejected"], clean),
        "reference_preference": auc(ref_chosen - ref_rejected, clean),
        "translation_confidence": None,
    }
    if "translation_confidence" in pairs and pairs["translation_confidence"].notna().any():
        out["translation_confidence"] = auc(pairs["translation_confidence"], clean)
    return out


def regime_benchmark(params: Params, regime: StudyRegime) -> Any:
    """ingest.benchmark set to the regime's noise, the same in every language."""
    return dataclasses.replace(
        params.ingest.benchmark,
        noise=regime.noise,
        noise_by_language={},
        noise_model=regime.noise_model,
        score_noise=regime.score_noise,
        sft_questions=params.study.sft_questions,
        sft_share=params.study.sft_share,
    )


def variant_params(params: Params, variant: StudyVariant, settings: dict[str, Any]) -> Params:
    """``params`` set up to train ``variant`` alone with ``settings`` over its own settings.

    A variant's loss settings are complete by themselves: the code defaults of `loss:`
    (LossSettings) under the variant's settings and grid point. Only ``loss.beta`` comes from
    params.yaml, so the study does not change when the pipeline's default CAPO settings do.
    The training knobs (TRAIN_KNOBS: learning_rate, epochs) among them go to `train:`.
    """
    merged = {**variant.settings, **settings}
    knobs = {k: v for k, v in merged.items() if k in TRAIN_KNOBS}
    loss = LossSettings(
        beta=params.loss.beta, **{k: v for k, v in merged.items() if k not in TRAIN_KNOBS}
    )
    train = dataclasses.replace(
        params.train, losses=(variant.loss,), loss_overrides={}, save_steps=10**9, **knobs
    )
    return dataclasses.replace(params, loss=loss, train=train)


def optimizer_steps(params: Params, pairs: int) -> int:
    """The optimizer steps `train:` takes over ``pairs`` pairs on one process (what the
    Trainer computes: ceil(pairs / global batch) steps per epoch, times epochs, rounded up)."""
    train = params.train
    if train.max_steps > 0:
        return train.max_steps
    per_epoch = math.ceil(pairs / train.batch_size)
    return math.ceil(per_epoch * train.epochs)


# ---- phase 1: a seed's policy and pairs, on disk ----------------------------------------


def _seed_dir(work: Path, seed: int) -> Path:
    return work / f"seed-{seed}"


def _with_reference(model: Any, tok: Any, pairs: pd.DataFrame, params: Params) -> pd.DataFrame:
    from capo_pipelines.data.contract import join_reference
    from capo_pipelines.models.logps import reference_logps

    ref = reference_logps(
        model,
        tok,
        pairs,
        batch_size=params.reference.batch_size,
        max_length=params.policy.max_length,
    )
    return join_reference(pairs, ref, "reference log-probs")


def _formatted(frame: pd.DataFrame, chat_format: str) -> pd.DataFrame:
    """The benchmark's pairs as ingest's ``chat_format`` makes them: ``messages`` gives each
    one user and one assistant turn (the model's chat template renders them); else plain."""
    from capo_pipelines.models.chat import MESSAGES, single_turn

    if chat_format != "messages":
        return frame
    texts = zip(frame["prompt"], frame["chosen"], frame["rejected"], strict=True)
    turns = [single_turn(p, chosen=c, rejected=r) for p, c, r in texts]
    return frame.assign(**{MESSAGES: turns})


def _sft(params: Params, bench: Any, seed: int, out: Path, epochs: float) -> tuple[Any, Any, int]:
    from capo_pipelines.data.benchmark import demonstrations, generate_benchmark
    from capo_pipelines.models.load import load_pretrained
    from capo_pipelines.models.sft import prepare_policy

    pairs = pd.DataFrame(generate_benchmark(bench, seed))
    demos = pd.DataFrame(demonstrations(bench, seed))
    policy = dataclasses.replace(params.policy, sft_epochs=epochs)
    train = pairs[pairs["split"] == "train"]
    prepare_policy(policy, train, out, seed, demonstrations=demos)
    model, tok = load_pretrained(str(out))
    return model, tok, len(demos)


def prepare_seed(params: Params, seed: int, work: Path, full_sft: bool = False) -> dict[str, Any]:
    """SFT the seed's policy; write its pairs of every regime with reference log-probs.

    Returns the seed's policy record: SFT size, test generation, and per regime the realized
    noise and the signal AUCs. With ``full_sft`` also a policy SFT'd on every training
    question for the full number of epochs (the default pipeline's reference), for contrast.
    """
    from capo_pipelines.data.benchmark import generate_benchmark, realized_noise
    from capo_pipelines.evaluation.evaluator import GENERATION_METRICS, generation_of
    from capo_pipelines.evaluation.metrics import summarize

    study, out = params.study, _seed_dir(work, seed)
    out.mkdir(parents=True, exist_ok=True)
    first = regime_benchmark(params, study.regimes[0])
    model, tok, n_demos = _sft(params, first, seed, out / "policy", study.sft_epochs)
    record: dict[str, Any] = {"seed": seed, "sft_demonstrations": n_demos, "regimes": {}}
    held = None
    for regime in study.regimes:
        rows = generate_benchmark(regime_benchmark(params, regime), seed, study.validation_pairs)
        frame = _formatted(pd.DataFrame(rows), params.ingest.chat_format)
        train = _with_reference(model, tok, frame[frame["split"] == "train"], params)
        train.to_parquet(out / f"{regime.name}.parquet", index=False)
        record["regimes"][regime.name] = {
            "realized_noise": realized_noise(rows),
            "signal_auc": signal_aucs(train),
        }
        if held is None:
            held = {
                split: _with_reference(model, tok, frame[frame["split"] == split], params)
                for split in ("validation", "test")
            }
            for split, pairs in held.items():
                pairs.to_parquet(out / f"{split}.parquet", index=False)
    answers = generation_of(model, tok, held["test"], params)
    policy = summarize(answers, GENERATION_METRICS)
    record.update(policy["overall"])
    record["per_language"] = policy["per_language"]
    (out / "policy.json").write_text(json.dumps(policy, default=float))
    if full_sft:
        record["full_sft"] = _full_sft_contrast(params, seed, out)
    return record


def _full_sft_contrast(params: Params, seed: int, out: Path) -> dict[str, Any]:
    """The reference a full SFT (all questions, policy.sft_epochs) gives, for contrast."""
    from capo_pipelines.data.benchmark import generate_benchmark
    from capo_pipelines.evaluation.evaluator import GENERATION_METRICS, generation_of
    from capo_pipelines.evaluation.metrics import summarize

    regime = next((r for r in params.study.regimes if r.noise_model != "derived"), None)
    regime = regime if regime and regime.noise > 0 else params.study.regimes[-1]
    bench = dataclasses.replace(
        regime_benchmark(params, regime), sft_questions="all", sft_share=1.0
    )
    model, tok, n_demos = _sft(params, bench, seed, out / "policy-full", params.policy.sft_epochs)
    frame = _formatted(pd.DataFrame(generate_benchmark(bench, seed)), params.ingest.chat_format)
    train = _with_reference(model, tok, frame[frame["split"] == "train"], params)
    test = _with_reference(model, tok, frame[frame["split"] == "test"], params)
    answers = summarize(generation_of(model, tok, test, params), GENERATION_METRICS)
    return {
        "regime": regime.name,
        "sft_demonstrations": n_demos,
        "sft_epochs": params.policy.sft_epochs,
        "generation_accuracy": answers["overall"].get("generation_accuracy"),
        "signal_auc": signal_aucs(train),
    }


# ---- phases 2 and 3: one trial ------------------------------------------------------------


def _noise_weights(pairs: pd.DataFrame, weights: pd.DataFrame) -> dict[str, float | None]:
    """Mean CAPO weight w of noisy and of clean training pairs under the trained model (None
    for a TRL loss, whose w is null), and the AUC of the trained model's own margin for
    "clean" (CAPO's model confidence c)."""
    joined = _learnable(pairs)[["id", "label_flipped"]].merge(weights[["id", "w", "margin"]])
    means = joined.dropna(subset=["w"]).groupby("label_flipped")["w"].mean()
    return {
        "noisy_mean_w": None if True not in means else float(means[True]),
        "clean_mean_w": None if False not in means else float(means[False]),
        "margin_auc": auc(joined["margin"], ~joined["label_flipped"].astype(bool)),
    }


def run_trial(
    params: Params,
    work: Path,
    variant: StudyVariant,
    settings: dict[str, Any],
    regime: str,
    seed: int,
    split: str,
) -> dict[str, Any]:
    """Train ``variant`` on the seed's pairs of ``regime``; its record on ``split``."""
    from capo_pipelines.data.contract import REFERENCE_KEY
    from capo_pipelines.evaluation.evaluator import (
        generation_of,
        metrics_document,
        rewards_of,
        with_health,
    )
    from capo_pipelines.models.load import load_pretrained
    from capo_pipelines.models.training import train_loss

    data = _seed_dir(work, seed)
    run_params = variant_params(dataclasses.replace(params, seed=seed), variant, settings)
    pairs = pd.read_parquet(data / f"{regime}.parquet")
    train = pairs[~pairs["label_flipped"].astype(bool)] if variant.clean_only else pairs
    if variant.clean_only:  # the oracle takes as many optimizer steps as DPO on every pair
        steps = optimizer_steps(run_params, len(pairs))
        run_params = dataclasses.replace(
            run_params, train=dataclasses.replace(run_params.train, max_steps=steps)
        )
    out = work / "runs" / f"{variant.name}-{regime}-{seed}-{split}-{os.getpid()}"
    trainer = train_loss(
        variant.loss,
        run_params,
        data / "policy",
        train.reset_index(drop=True),
        None,
        out_dir=out / "model",
        checkpoint_dir=out / "checkpoints",
        settings=run_params.loss,  # the variant's settings, complete by themselves
        capo_weights=True,  # c and w of every variant's pairs, at its own settings
    )
    model, tok = load_pretrained(str(out / "model"))
    held = pd.read_parquet(data / f"{split}.parquet")
    rewards = rewards_of(model, tok, held, held[list(REFERENCE_KEY)], run_params.loss.beta, params)
    doc = metrics_document(rewards, generation_of(model, tok, held, params))
    policy = json.loads((data / "policy.json").read_text())
    doc["reference"] = {"overall": policy["overall"]}
    doc = with_health(doc, params)
    weights = pd.read_parquet(out / "model" / "pair_weights.parquet")
    selection = out / "model" / "selection.json"  # a filter's kept pairs (training.py)
    kept = json.loads(selection.read_text())["kept"] if selection.is_file() else len(train)
    rec = {
        "variant": variant.name,
        "loss": variant.loss,
        "regime": regime,
        "noise_model": next(r.noise_model for r in params.study.regimes if r.name == regime),
        "noise": next(r.noise for r in params.study.regimes if r.name == regime),
        "seed": seed,
        "split": split,
        "settings": settings,
        "train_pairs": int(kept),
        "learning_rate": run_params.train.learning_rate,
        "epochs": run_params.train.epochs,
        "steps": int(trainer.state.global_step),
    }
    rec.update({k: doc["overall"].get(k) for k in RUN_METRICS})
    rec["degenerate"] = doc["health"]["degenerate"]
    rec.update(_noise_weights(pairs, weights))
    rec["per_language"] = {
        lang: {k: v.get(k) for k in RUN_METRICS} for lang, v in sorted(doc["per_language"].items())
    }
    shutil.rmtree(out, ignore_errors=True)
    return rec


# ---- the driver ---------------------------------------------------------------------------


# ---- trials as tasks ----------------------------------------------------------------------


@dataclass(frozen=True)
class Trial:
    """One unit of the study: ``fn(*args)``, a pure function of its inputs, and its record.

    ``kind`` is prepare (a seed's policy and pairs), tuning (a grid point on validation) or
    test (a variant's run with its chosen settings); ``name`` reads variant/regime/seed-N/split
    (prepare/seed-N for a seed); ``needs`` are files a finished trial leaves that later trials
    read (a seed's folder), so a stored record without them does not count as finished.
    """

    kind: str
    name: str
    fingerprint: str
    fn: Callable[..., dict[str, Any]]
    args: tuple
    needs: tuple[str, ...] = ()
    store: str = ""  # the store folder; set by the driver, with run and fail
    run: str = ""  # the driver run that submitted it (logged with each attempt)
    fail: bool = False  # FAIL_ENV matched its name: raise instead of running (tests only)


# A trial whose name matches this shell pattern (fnmatch) raises instead of running: a
# deliberate failure, for tests of retries and failure records only. Read by the driver and
# passed to the trial, so it reaches workers on any machine.
FAIL_ENV = "CAPO_STUDY_FAIL"

# `study:` keys that choose which trials run or how, not what a trial computes: left out of
# the fingerprints, so adding a seed or a variant, or changing the engine, reruns nothing else.
_NOT_AN_INPUT = (
    "variants",
    "seeds",
    "baseline",
    "candidate",
    "ablation",
    "oracle",
    "focal",
    "tune_seed",
    "budget",
    "protocol",
    "compare_full_sft",
    "workers",
    "engine",
    "address",
    "retries",
)


def _inputs(params: Params) -> dict[str, Any]:
    """The params a trial reads, as a plain dict for its fingerprint."""
    data = dataclasses.asdict(params)
    data["study"] = {k: v for k, v in data["study"].items() if k not in _NOT_AN_INPUT}
    return data


def execute_trial(trial: Trial) -> dict[str, Any]:
    """Run ``trial`` with one torch thread, store its record and return it.

    Every attempt is logged in the store first; ``trial.fail`` (FAIL_ENV) raises instead.
    The record is written here, where the trial ran, so a finished trial survives a driver
    that dies before it hears of the result.
    """
    import torch

    torch.set_num_threads(1)
    _quiet_progress()
    store = TrialStore(trial.store)
    store.attempt(trial.fingerprint, trial.name, trial.run)
    if trial.fail:
        raise RuntimeError(f"{trial.name}: injected failure ({FAIL_ENV})")
    start = time.perf_counter()
    record = trial.fn(*trial.args)
    stored = {
        "status": "ok",
        "kind": trial.kind,
        "name": trial.name,
        "record": record,
        "seconds": round(time.perf_counter() - start, 3),
        "host": socket.gethostname(),
    }
    store.put(trial.fingerprint, stored)
    return record


def _quiet_progress() -> None:
    """No per-trial progress bars (datasets, model loading, Trainer, generation): the study
    has one bar across all trials, and many parallel trials' bars would bury it."""
    import datasets
    from transformers.utils import logging as hf_logging

    datasets.disable_progress_bars()
    hf_logging.disable_progress_bar()  # pipelines/models/progress.py: capo's bars and trainers too


# run_trials(trials, advance): per trial its record, or the exception it finally failed with;
# advance() once per finished trial. The pipeline layer gives a Prefect task runner's.
RunTrials = Callable[[Sequence[Trial], Callable[[], None]], list[Any]]


def _store_root(work: Path) -> str:
    return str(work / "store")


def run_study(
    params: Params,
    work_dir: str | Path,
    run_trials: RunTrials | None = None,
    run: str | None = None,
) -> dict[str, Any]:
    """Prepare seeds, tune per regime on validation, then run every cell on test.

    Trials with a finished record in ``work_dir``/store are reused; the rest go to
    ``run_trials`` phase by phase (default: this process, one after the other). A trial
    that fails (after the engine's retries) is recorded as failed with its error and listed
    in the result's "failed"; trials that need it (a seed's, a grid's) are listed as not run.
    """
    study, work = params.study, Path(work_dir)
    run = run or f"{socket.gethostname()}-{os.getpid()}-{int(time.time())}"
    store = TrialStore(_store_root(work))
    pattern = os.environ.get(FAIL_ENV, "")
    if run_trials is None:

        def run_trials(trials: Sequence[Trial], advance: Callable[[], None]) -> list[Any]:
            out: list[Any] = []
            for trial in trials:
                try:
                    out.append(execute_trial(trial))
                except Exception as exc:  # recorded as failed, the others go on
                    out.append(exc)
                advance()
            return out

    def submitted(t: Trial) -> Trial:
        fail = bool(pattern) and fnmatch.fnmatch(t.name, pattern)
        return dataclasses.replace(t, store=str(store.root), run=run, fail=fail)

    inputs = _inputs(params)
    seeds = sorted(set(study.seeds) | {study.tune_seed})
    prep = {}
    for s in seeds:
        full = study.compare_full_sft and s == study.tune_seed
        fp = fingerprint("prepare", inputs, s, full)
        needs = (str(_seed_dir(work, s) / "policy.json"),)
        prep[s] = Trial(
            "prepare", f"prepare/seed-{s}", fp, prepare_seed, (params, s, work, full), needs
        )

    def trial(variant: StudyVariant, settings: dict, regime: str, seed: int, split: str) -> Trial:
        args = (params, work, variant, settings, regime, seed, split)
        parts = (dataclasses.asdict(variant), settings, regime, seed, split)
        fp = fingerprint("trial", inputs, prep[seed].fingerprint, *parts)
        return Trial(
            split if split == "test" else "tuning",
            f"{variant.name}/{regime}/seed-{seed}/{split}",
            fp,
            run_trial,
            args,
        )

    def tuning_of(variants: list[StudyVariant], shared: dict[str, dict]) -> list[tuple]:
        """(regime, variant, trial) of every tuning point, over the regime's shared settings."""
        return [
            (
                regime.name,
                variant.name,
                trial(
                    variant,
                    {**shared[regime.name], **point},
                    regime.name,
                    study.tune_seed,
                    "validation",
                ),
            )
            for regime, variant in itertools.product(study.regimes, variants)
            if variant.runs_in(regime.name) and regime.name in shared
            for point in tuning_points(variant)
        ]

    base = next(v for v in study.variants if v.name == study.baseline)
    others = [v for v in study.variants if v.tuned and v is not base]
    n_tuning = len(tuning_of([base], {r.name: {} for r in study.regimes})) + len(
        tuning_of(others, {r.name: {} for r in study.regimes})
    )
    cells = [
        (regime, seed, variant)
        for regime, seed, variant in itertools.product(study.regimes, study.seeds, study.variants)
        if variant.runs_in(regime.name)
        and not (variant.clean_only and regime.noise == 0 and regime.noise_model != "derived")
    ]  # on clean pairs the oracle is the baseline itself
    trace: list[dict[str, Any]] = []
    failed: list[dict[str, Any]] = []
    total = len(prep) + n_tuning + len(cells)
    with tqdm(total=total, desc="noise study", unit="trial") as bar:

        def phase(trials: list[Trial]) -> list[dict[str, Any] | None]:
            results: list[Any] = [None] * len(trials)
            todo = []
            for i, t in enumerate(trials):
                rec = store.done(t.fingerprint)
                if rec and all(Path(p).exists() for p in t.needs):
                    results[i] = rec["record"]
                    bar.update(1)
                else:
                    todo.append(i)
            if todo:
                outcomes = run_trials([submitted(trials[i]) for i in todo], lambda: bar.update(1))
                for i, outcome in zip(todo, outcomes, strict=True):
                    t = trials[i]
                    if isinstance(outcome, BaseException):
                        error = f"{type(outcome).__name__}: {outcome}"
                        store.put(
                            t.fingerprint,
                            {"status": "failed", "kind": t.kind, "name": t.name, "error": error},
                        )
                        failed.append(
                            {
                                "kind": t.kind,
                                "name": t.name,
                                "fingerprint": t.fingerprint,
                                "error": error,
                            }
                        )
                    else:
                        results[i] = outcome
            trace.extend(_trace(t, store.get(t.fingerprint) or {}) for t in trials)
            return results

        def not_run(t_kind: str, name: str, why: str) -> None:
            failed.append(
                {"kind": t_kind, "name": name, "fingerprint": None, "error": f"not run: {why}"}
            )
            bar.update(1)

        policies = dict(zip(seeds, phase([prep[s] for s in seeds]), strict=True))
        chosen: dict[str, dict[str, dict | None]] = {
            r.name: {v.name: (None if v.tuned else {}) for v in study.variants}
            for r in study.regimes
        }
        tuned: list[dict[str, Any]] = []

        def tune(stage: str, todo: list[tuple]) -> None:
            """Run ``todo``'s tuning trials; each variant's best point per regime goes to
            ``chosen`` (validation reward accuracy among healthy models; ties keep the first)."""
            if policies[study.tune_seed] is None:
                for _, _, t in todo:
                    not_run(t.kind, t.name, f"prepare/seed-{study.tune_seed} failed")
                return
            best: dict[tuple[str, str], float] = {}
            for (regime_name, variant_name, _), rec in zip(todo, phase([t for *_, t in todo]),
                                                           strict=True):  # fmt: skip
                if rec is None:
                    continue
                tuned.append({**rec, "stage": stage})
                key = (regime_name, variant_name)
                score = -1.0 if rec["degenerate"] else rec["reward_accuracy"]
                if key not in best or score > best[key]:
                    best[key] = score
                    chosen[regime_name][variant_name] = rec["settings"]

        # stage A: the baseline's training knobs, shared by every method afterwards
        if base.tuned:
            tune("A", tuning_of([base], {r.name: {} for r in study.regimes}))
        shared = {
            r.name: chosen[r.name][base.name]
            for r in study.regimes
            if chosen[r.name][base.name] is not None
        }
        for r in study.regimes:
            for v in study.variants:
                if not v.tuned and r.name in shared:
                    chosen[r.name][v.name] = dict(shared[r.name])
        # stage B: every other method's own knobs, at stage A's shared settings
        stage_b = tuning_of(others, shared)
        skipped = [r.name for r in study.regimes if r.name not in shared]
        for _, _, t in tuning_of(others, {r: {} for r in skipped}):
            not_run(t.kind, t.name, f"stage A found no healthy {base.name} setting")
        tune("B", stage_b)

        tests = []
        for regime, seed, variant in cells:
            settings = chosen[regime.name][variant.name]
            name = f"{variant.name}/{regime.name}/seed-{seed}/test"
            if policies[seed] is None:
                not_run("test", name, f"prepare/seed-{seed} failed")
            elif settings is None:
                not_run("test", name, f"no grid point of {variant.name} finished in {regime.name}")
            else:
                tests.append(trial(variant, settings, regime.name, seed, "test"))
        runs = phase(tests)
    return {
        "settings": chosen,
        "tuning": tuned,
        "shared": shared,
        "policies": [p for s, p in policies.items() if p and (s in study.seeds or "full_sft" in p)],
        "regimes": [dataclasses.asdict(r) for r in study.regimes],
        "runs": [r for r in runs if r is not None],
        "failed": failed,
        "trials": trace,
    }


def _trace(trial: Trial, stored: dict[str, Any]) -> dict[str, Any]:
    """The trial's line in the result: name, fingerprint, status, and where and how long."""
    return {
        "name": trial.name,
        "fingerprint": trial.fingerprint,
        "status": stored.get("status"),
        "seconds": stored.get("seconds"),
        "host": stored.get("host"),
    }
