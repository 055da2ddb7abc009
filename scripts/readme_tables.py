"""Rewrite the README's generated tables from the committed results.

    python scripts/readme_tables.py           # rewrite README.md in place
    python scripts/readme_tables.py --check   # exit 1 if README.md differs (what CI's test checks)

Four blocks, each between its HTML comments:
- ``headline``: study v3's verdict per regime (reports/noise_study.json, summary.verdicts
  [regime].corrected: CAPO against every method, Bonferroni-corrected), one row per regime;
- ``real-arm``: the same table for its real-model arm (reports/smollm2_study.json, SmolLM2
  with LoRA), or one line saying it has not finished while that file does not exist;
- ``real-arm-methods``: that arm's every method per regime (settings, validation, test
  reward accuracy and margin, paired difference to tuned DPO);
- ``default-run``: the default pipeline's test metrics (metrics/<loss>.json), per language.

Run it after `dvc repro studies/noise/dvc.yaml` or `dvc repro`; the prose around the tables
is written by hand and is not touched. tests/test_readme_numbers.py checks the same numbers.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from capo_pipelines.noise_study.stats import Estimate
from capo_pipelines.reporting.markup import markdown_table

ROOT = Path(__file__).resolve().parents[1]
LOSS_LABELS = {"sigmoid": "sigmoid (DPO)"}
LOSS_ORDER = ("capo", "sigmoid", "ipo", "robust")


def _interval(est: dict[str, float], sign: str = "") -> str:
    """``mean [low, high]`` at 3 decimals; ``sign="+"`` signs every number (differences)."""
    return f"{est['mean']:{sign}.3f} [{est['low']:{sign}.3f}, {est['high']:{sign}.3f}]"


def _signed(est: dict[str, float]) -> str:
    return _interval(est, "+")


def _starred(est: dict[str, float] | None) -> str:
    if not est or est.get("mean") is None:
        return "-"
    return _signed(est) + ("*" if Estimate(**est).excludes_zero() else "")


def best_other(summary: dict[str, Any], regime: str) -> str | None:
    """The method with the highest test reward accuracy in ``regime`` other than CAPO, tuned
    DPO and the oracle (which needs the true labels)."""
    skip = {summary["candidate"], summary["baseline"], summary["oracle"]}
    means = summary["means"][regime]
    others = [v for v in means if v not in skip]
    return max(others, key=lambda v: means[v]["reward_accuracy"]["mean"], default=None)


def headline(result: dict[str, Any]) -> list[str]:
    """Study v3's verdict per regime: tuned DPO, CAPO, the best other method, CAPO's paired
    differences with Bonferroni-corrected intervals (reward accuracy and margin)."""
    s = result["summary"]
    base, cand = s["baseline"], s["candidate"]
    header = [
        "regime",
        f"tuned {LOSS_LABELS.get(base, base)}",
        cand,
        "best other method",
        f"{cand} - tuned {base}",
        f"{cand} - best other",
        f"margin: {cand} - tuned {base}",
        "validation picks",
        "verdict",
    ]
    rows = []
    for regime in s["regimes"]:
        means, c = s["means"][regime], s["verdicts"][regime]["corrected"]
        acc, margin = c["vs"]["reward_accuracy"], c["vs"]["reward_margin"]
        other = best_other(s, regime)
        rows.append(
            [
                f"`{regime}`",
                f"{means[base]['reward_accuracy']['mean']:.3f}",
                f"{means[cand]['reward_accuracy']['mean']:.3f}",
                f"{other} {means[other]['reward_accuracy']['mean']:.3f}" if other else "-",
                _starred(acc.get(base)),
                _starred(acc.get(other)) if other else "-",
                _starred(margin.get(base)),
                c["validation_pick"] or "-",
                c["text"],
            ]
        )
    return markdown_table(header, rows)


NOT_FINISHED = (
    "The real-model arm has not finished: `dvc repro studies/smollm2/dvc.yaml` resumes it from"
    " its store (Status says how far it is)."
)


def chosen_validation(result: dict[str, Any], regime: str, variant: str) -> float | None:
    """The validation reward accuracy (tuning seed) of ``variant`` at its chosen settings."""
    chosen = result["settings"][regime][variant]
    scores = [
        t["reward_accuracy"]
        for t in result["tuning"]
        if (t["regime"], t["variant"], t["settings"]) == (regime, variant, chosen)
    ]
    return max(scores, default=None)


def methods(result: dict[str, Any]) -> list[str]:
    """Every method of every regime: its chosen settings and validation score, the pairs it
    trained on, its test reward accuracy and margin (mean over test seeds, 95% interval),
    and its paired difference to tuned DPO (95% per interval, not corrected)."""
    s = result["summary"]
    base = s["baseline"]
    header = [
        "regime",
        "method",
        "chosen settings",
        "validation",
        "training pairs",
        "test reward accuracy",
        f"- tuned {base} (paired)",
        "test reward margin",
    ]
    rows = []
    for regime in s["regimes"]:
        for variant, means in s["means"][regime].items():
            settings = result["settings"][regime][variant] or {}
            runs = [r for r in result["runs"] if (r["regime"], r["variant"]) == (regime, variant)]
            pairs = sorted({r["train_pairs"] for r in runs})
            paired = s["paired"][regime].get(variant, {}).get("reward_accuracy")
            valid = chosen_validation(result, regime, variant)
            rows.append(
                [
                    f"`{regime}`",
                    variant,
                    ", ".join(f"{k} {v:g}" for k, v in settings.items()) or "-",
                    "-" if valid is None else f"{valid:.3f}",
                    f"{pairs[0]}-{pairs[-1]}" if len(pairs) > 1 else str(pairs[0]),
                    _interval(means["reward_accuracy"]),
                    _starred(paired) if variant != base else "-",
                    _interval(means["reward_margin"]),
                ]
            )
    return markdown_table(header, rows)


def default_run(metrics: dict[str, dict[str, Any]]) -> list[str]:
    """Per-language test numbers of the default run: the SFT policy, then each loss."""
    languages = sorted(metrics["capo"]["per_language"])
    sources = [
        ("SFT policy: generation accuracy", metrics["capo"]["reference"], "generation_accuracy")
    ]
    losses = [n for n in LOSS_ORDER if n in metrics] + sorted(set(metrics) - set(LOSS_ORDER))
    sources += [
        (f"{LOSS_LABELS.get(n, n)}: reward accuracy", metrics[n], "reward_accuracy") for n in losses
    ]
    rows = [
        [
            label,
            f"{doc['overall'][key]:.3f}",
            *(f"{doc['per_language'][lang][key]:.2f}" for lang in languages),
        ]
        for label, doc, key in sources
    ]
    return markdown_table(["default run, test", "all", *languages], rows)


def replace_block(text: str, name: str, lines: list[str]) -> str:
    start, end = f"<!-- {name}:start -->", f"<!-- {name}:end -->"
    if start not in text or end not in text:
        raise SystemExit(f"README.md: markers {start} ... {end} not found")
    head, rest = text.split(start, 1)
    _, tail = rest.split(end, 1)
    return head + start + "\n" + "\n".join(lines) + "\n" + end + tail


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--readme", type=Path, default=ROOT / "README.md")
    parser.add_argument("--study", type=Path, default=ROOT / "reports/noise_study.json")
    parser.add_argument("--real-study", type=Path, default=ROOT / "reports/smollm2_study.json")
    parser.add_argument("--metrics", type=Path, default=ROOT / "metrics")
    parser.add_argument("--check", action="store_true", help="only check; exit 1 if it differs")
    args = parser.parse_args(argv)
    text = args.readme.read_text(encoding="utf-8")
    study = json.loads(args.study.read_text(encoding="utf-8"))
    metrics = {
        p.stem: json.loads(p.read_text(encoding="utf-8")) for p in args.metrics.glob("*.json")
    }
    new = replace_block(text, "headline", headline(study))
    # the real-model arm's two tables, or one line each while its JSON does not exist
    real = (
        json.loads(args.real_study.read_text(encoding="utf-8"))
        if args.real_study.is_file()
        else None
    )
    new = replace_block(new, "real-arm", headline(real) if real else [NOT_FINISHED])
    new = replace_block(new, "real-arm-methods", methods(real) if real else [NOT_FINISHED])
    new = replace_block(new, "default-run", default_run(metrics))
    if args.check:
        if new != text:
            print(f"{args.readme}: tables differ from the results; run {sys.argv[0]}")
            return 1
        return 0
    args.readme.write_text(new, encoding="utf-8")
    print(f"{args.readme}: tables rewritten" if new != text else f"{args.readme}: up to date")
    return 0


if __name__ == "__main__":
    sys.exit(main())
