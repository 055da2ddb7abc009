"""DVC stage `study` (studies/noise/dvc.yaml): the label-noise study of params.yaml `study:`.

    dvc repro studies/noise/dvc.yaml        # or: python -m capo_pipelines.study
    dvc repro studies/smollm2/dvc.yaml      # the real-model arm (SmolLM2): with --profile

Trains every variant of `study.variants` in every `study.regimes` noise regime and seed
(settings tuned per regime on the validation split first; trials as Prefect task runs on
`study.engine`, pipelines/study_engine.py) and writes the runs, the signal AUCs, the
summary with 95% intervals and the verdict per regime against pre-registered criteria, the
failed trials if any, the Markdown report and the chart. Finished trials are kept in
--work-dir's store: a rerun (after a kill, a failure or a change) runs only the rest.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
from pathlib import Path

from capo.errors import CapoError
from capo_pipelines._stage import run_stage
from capo_pipelines.noise_study import study_figure, study_markdown, summarize_study
from capo_pipelines.noise_study.writeup import study_setup
from capo_pipelines.params import Params, load_params

logger = logging.getLogger("capo_pipelines.study")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Command-line options; the output paths come from studies/noise/dvc.yaml."""
    parser = argparse.ArgumentParser(prog="python -m capo_pipelines.study", description=__doc__)
    parser.add_argument("--params", default="params.yaml", help="params file (section study:)")
    parser.add_argument(
        "--profile",
        default=None,
        help="a YAML mapping of dotted params keys to values, set over --params (as "
        "profiles/*.yaml): studies/smollm2/profile.yaml is the real-model arm",
    )
    parser.add_argument("--out-json", default="reports/noise_study.json")
    parser.add_argument("--out-md", default="reports/noise_study.md")
    parser.add_argument("--figure", default="reports/noise_study.png")
    parser.add_argument(
        "--work-dir",
        default="studies/noise/work",
        help="the trials' store and seed data: a rerun reuses every finished trial in it "
        "(on a cluster, a folder all workers share)",
    )
    parser.add_argument(
        "--rerender",
        action="store_true",
        help="train nothing: recompute the summary, Markdown and chart from the runs already in "
        "--out-json (after a change to the report code)",
    )
    return parser.parse_args(argv)


def restore_shipped_policies(params: Params, work: Path) -> list[int]:
    """Seeds whose policy was saved again; only with no SFT (``study.sft_epochs`` 0).

    Then a seed's policy is the model as shipped, and a seed folder that kept its prepared
    pairs and record (studies/smollm2/work: committed, as the store is) but not the model
    (0.5 GB, not committed) is made whole by saving the model again the way prepare_seed
    does, instead of preparing the seed again (about 8 min a seed for SmolLM2 here).
    """
    from capo_pipelines.noise_study.trials import _seed_dir, _sft, regime_benchmark

    study = params.study
    if study.sft_epochs != 0:
        return []
    restored = []
    for seed in sorted(set(study.seeds) | {study.tune_seed}):
        folder = _seed_dir(work, seed)
        if (folder / "policy.json").is_file() and not (folder / "policy" / "config.json").is_file():
            bench = regime_benchmark(params, study.regimes[0])
            _sft(params, bench, seed, folder / "policy", study.sft_epochs)
            restored.append(seed)
    if restored:
        logger.info("seeds %s: the model as shipped saved again as their policy", restored)
    return restored


def main(argv: list[str] | None = None) -> None:
    """Run the study, write its JSON, Markdown and chart."""
    args = parse_args(argv)
    params = load_params(args.params, args.profile)
    out_json, out_md, figure = Path(args.out_json), Path(args.out_md), Path(args.figure)
    if args.rerender:
        if not out_json.is_file():
            raise CapoError(f"{out_json}: no study results to re-render (run the study first)")
        result = json.loads(out_json.read_text(encoding="utf-8"))
    else:
        from capo_pipelines.study_engine import run_study_on_engine

        restore_shipped_policies(params, Path(args.work_dir))
        result = run_study_on_engine(params, Path(args.work_dir))
        result["setup"] = study_setup(params, args.profile or args.params)
    result["summary"] = summarize_study(result, params.study)
    out_json.parent.mkdir(parents=True, exist_ok=True)
    text = json.dumps(result, indent=1, allow_nan=False)  # strict JSON: no NaN
    out_json.write_text(text + "\n", encoding="utf-8")
    study_figure(result["summary"], figure)
    rel = Path(os.path.relpath(figure, out_md.parent)).as_posix()
    text = study_markdown(result, result["summary"], rel)
    out_md.write_text(text, encoding="utf-8")
    logger.info("noise study: %d runs -> %s, %s, %s", len(result["runs"]), out_json, out_md, figure)


if __name__ == "__main__":
    run_stage("study", main)
