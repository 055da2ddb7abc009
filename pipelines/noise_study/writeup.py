"""The noise study's report: pre-registered criteria, verdicts, means and paired differences.

summary = summarize_study(result, params.study)   # numbers only (reports/noise_study.json)
text = study_markdown(result, summary)             # reports/noise_study.md
study_figure(summary, "reports/noise_study.png")

Its Markdown tables come from pipelines/reporting/markup.py.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from capo_pipelines.noise_study.stats import Estimate, mean_ci, metric_of, paired_ci
from capo_pipelines.reporting.markup import markdown_table

__all__ = ["CRITERIA", "KEY_METRICS", "study_figure", "study_markdown", "summarize_study"]

KEY_METRICS = ("reward_accuracy", "reward_margin", "generation_accuracy", "empty_rate")
MAX_LOSS = 0.005  # the candidate may not lose more than this at noise 0 or under uniform noise

CRITERIA = f"""\
These criteria were written down before the study ran (they are the project's issue text);
"the candidate" is CAPO with its settings chosen per regime on the validation split.

1. **CAPO helps in a regime** when, on the test split, its paired 95% interval against DPO
   over at least 5 seeds lies above 0, **and** it beats its own q-only ablation (data
   confidence alone, no model confidence) with a paired interval above 0. If it beats DPO
   but not q-only, the gain is score-weighted DPO, and the verdict says so.
2. **It must not hurt where nothing can help**: in the clean regime and under uniform noise
   (the negative control) its mean paired difference to DPO may not be below
   -{MAX_LOSS:.3f} (half a point).
3. The oracle (DPO on the clean pairs only) is the ceiling; each variant's gain over DPO is
   also given as a share of the oracle's gain.
"""


def _runs(result: Mapping[str, Any], variant: str, regime: str) -> list[dict[str, Any]]:
    return [r for r in result["runs"] if r["variant"] == variant and r["regime"] == regime]


def _languages(result: Mapping[str, Any]) -> list[str]:
    return sorted({lang for r in result["runs"] for lang in r.get("per_language", {})})


def _verdict(paired: Mapping[str, Any], regime: Mapping[str, Any], names: Mapping) -> dict:
    """The pre-registered criteria applied to one regime's paired estimates."""
    cand, abl = names["candidate"], names["ablation"]
    vs_base = Estimate(**paired[cand]["reward_accuracy"]) if cand in paired else None
    vs_base = vs_base if vs_base and vs_base.n else None
    vs_abl = names.get("vs_ablation")
    control = regime["noise_model"] == "uniform" or (
        regime["noise"] == 0 and regime["noise_model"] != "derived"
    )
    beats_base = bool(vs_base and vs_base.low is not None and vs_base.low > 0)
    beats_abl = bool(vs_abl and vs_abl.low is not None and vs_abl.low > 0)
    no_harm = vs_base is None or vs_base.mean >= -MAX_LOSS
    if control:
        text = "no harm" if no_harm else f"HARMS (mean below -{MAX_LOSS:.3f})"
        text = f"control regime: {text}"
    elif beats_base and beats_abl:
        text = f"{cand} helps, beyond its {abl} ablation"
    elif beats_base:
        text = f"{cand} beats DPO, but not {abl}: the gain is score-weighted DPO"
    else:
        text = f"{cand} does not beat DPO"
    return {
        "control": control,
        "beats_baseline": beats_base,
        "beats_ablation": beats_abl,
        "no_harm": no_harm,
        "text": text,
    }


COMPARED = ("reward_accuracy", "reward_margin")  # judged per regime, CAPO against every method
FAMILY_LEVEL = 0.95  # the family-wise confidence of one regime's comparisons (Bonferroni)


def _chosen_validation(result: Mapping[str, Any], regime: str) -> dict[str, float]:
    """Each tuned method's validation reward accuracy at the settings chosen for ``regime``."""
    out: dict[str, float] = {}
    chosen = result.get("settings", {}).get(regime, {})
    for rec in result.get("tuning", []):
        if rec["regime"] == regime and rec["settings"] == chosen.get(rec["variant"]):
            out.setdefault(rec["variant"], rec["reward_accuracy"])
    return out


def _comparisons(result: Mapping[str, Any], study: Any, regime: str) -> dict[str, Any]:
    """CAPO against every other method (the oracle aside: it needs the true labels) on the
    test seeds, paired by seed, with Bonferroni intervals: k comparisons per metric in the
    regime, each at level 1 - (1 - FAMILY_LEVEL) / k. "CAPO helps" means its interval against
    the tuned baseline lies above 0 and no method's interval lies entirely above CAPO's."""
    cand = study.candidate
    cand_runs = _runs(result, cand, regime)
    others = [
        v.name
        for v in study.variants
        if v.name not in (cand, study.oracle) and _runs(result, v.name, regime)
    ]
    k = max(len(others), 1)
    level = 1 - (1 - FAMILY_LEVEL) / k
    vs = {
        metric: {
            name: paired_ci(cand_runs, _runs(result, name, regime), metric, level=level).as_dict()
            for name in others
        }
        for metric in COMPARED
    }
    acc = vs["reward_accuracy"]
    base = acc.get(study.baseline)
    beats_base = bool(base and base["low"] is not None and base["low"] > 0)
    worse = sorted(n for n, e in acc.items() if e["high"] is not None and e["high"] < 0)
    better = sorted(n for n, e in acc.items() if e["low"] is not None and e["low"] > 0)
    validation = _chosen_validation(result, regime)
    pick = max(validation, key=lambda n: validation[n]) if validation else None
    if beats_base and not worse:
        text = f"{cand} helps: above tuned {study.baseline}, and no method is above it"
    elif beats_base:
        text = f"{cand} beats tuned {study.baseline}, but {', '.join(worse)} beat(s) {cand}"
    elif worse:
        text = f"{cand} does not beat tuned {study.baseline}; {', '.join(worse)} beat(s) it"
    else:
        text = f"{cand} does not beat tuned {study.baseline}"
    return {
        "correction": "bonferroni",
        "comparisons": k,
        "level": level,
        "vs": vs,
        "helps": beats_base and not worse,
        "beats_baseline": beats_base,
        "beaten_by": worse,
        "beats": better,
        "validation": validation,
        "validation_pick": pick,
        "text": text,
    }


def summarize_study(result: Mapping[str, Any], study: Any) -> dict[str, Any]:
    """Means per variant and regime, paired differences to the baseline, verdicts, signals.

    ``study`` is params.study (names of the baseline, candidate, ablation and oracle).
    """
    base, cand, abl, oracle = study.baseline, study.candidate, study.ablation, study.oracle
    focal = study.focal
    variants = list(dict.fromkeys(r["variant"] for r in result["runs"]))
    regimes = [r["name"] for r in result["regimes"]]
    langs = _languages(result)
    means: dict[str, Any] = {}
    paired: dict[str, Any] = {}
    verdicts: dict[str, Any] = {}
    oracle_share: dict[str, Any] = {}
    for regime in regimes:
        base_runs = _runs(result, base, regime)
        for variant in variants:
            runs = _runs(result, variant, regime)
            if not runs:
                continue
            means.setdefault(regime, {})[variant] = {
                m: mean_ci(metric_of(r, m) for r in runs).as_dict() for m in KEY_METRICS
            } | {
                "per_language": {
                    lang: mean_ci(metric_of(r, "reward_accuracy", lang) for r in runs).as_dict()
                    for lang in langs
                },
                "noisy_mean_w": mean_ci(r.get("noisy_mean_w") for r in runs).as_dict(),
                "clean_mean_w": mean_ci(r.get("clean_mean_w") for r in runs).as_dict(),
                "margin_auc": mean_ci(r.get("margin_auc") for r in runs).as_dict(),
            }
            if variant != base:
                paired.setdefault(regime, {})[variant] = {
                    m: paired_ci(runs, base_runs, m).as_dict() for m in KEY_METRICS
                } | {
                    "per_language": {
                        lang: paired_ci(runs, base_runs, "reward_accuracy", lang).as_dict()
                        for lang in langs
                    }
                }
        gains = paired.get(regime, {})
        if oracle in gains and gains[oracle]["reward_accuracy"]["n"]:
            top = gains[oracle]["reward_accuracy"]["mean"]
            oracle_share[regime] = {
                v: (d["reward_accuracy"]["mean"] / top if top > 0 else None)
                for v, d in gains.items()
                if v != oracle
            }
        cand_runs = _runs(result, cand, regime)
        vs_abl = paired_ci(cand_runs, _runs(result, abl, regime), "reward_accuracy")
        vs_focal = paired_ci(cand_runs, _runs(result, focal, regime), "reward_accuracy")
        spec = next(r for r in result["regimes"] if r["name"] == regime)
        names = {"candidate": cand, "ablation": abl, "vs_ablation": vs_abl}
        verdicts[regime] = _verdict(gains, spec, names) | {
            "vs_ablation": vs_abl.as_dict(),
            "vs_focal": vs_focal.as_dict(),
        }
        if cand_runs:
            verdicts[regime]["corrected"] = _comparisons(result, study, regime)
    return {
        "protocol": getattr(study, "protocol", ""),
        "baseline": base,
        "candidate": cand,
        "ablation": abl,
        "oracle": oracle,
        "focal": focal,
        "regimes": regimes,
        "means": means,
        "paired": paired,
        "oracle_share": oracle_share,
        "verdicts": verdicts,
        "signals": _signals(result, regimes),
    }


def _signals(result: Mapping[str, Any], regimes: Sequence[str]) -> dict[str, Any]:
    """Mean over seeds of each signal's AUC for "clean", per regime; realized noise."""
    out: dict[str, Any] = {}
    policies = [p for p in result.get("policies", []) if "regimes" in p]
    for regime in regimes:
        per = [p["regimes"][regime] for p in policies if regime in p["regimes"]]
        names = sorted({k for p in per for k in p["signal_auc"]})
        out[regime] = {
            name: mean_ci(p["signal_auc"][name] for p in per).as_dict() for name in names
        } | {"realized_noise": mean_ci(p["realized_noise"] for p in per).as_dict()}
        dpo = [r.get("margin_auc") for r in result["runs"] if r["regime"] == regime]
        dpo = [r.get("margin_auc") for r in _runs(result, "sigmoid", regime)] or dpo
        out[regime]["dpo_margin"] = mean_ci(dpo).as_dict()
    return out


def _est(d: Mapping[str, Any] | None, signed: bool = False) -> str:
    if d is None:
        return "-"
    e = Estimate(**d)
    if e.n == 0:
        return "n/a"
    mean = f"{e.mean:+.3f}" if signed else f"{e.mean:.3f}"
    if e.low is None:
        return mean
    mark = " *" if signed and e.excludes_zero() else ""
    if signed:
        return f"{mean} [{e.low:+.3f}, {e.high:+.3f}]{mark}"
    return f"{mean} [{e.low:.3f}, {e.high:.3f}]"


def _table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> list[str]:
    return [*markdown_table(header, rows), ""]


def _variants(summary: Mapping[str, Any]) -> list[str]:
    return list(dict.fromkeys(v for per in summary["means"].values() for v in per))


def _means_table(summary: Mapping[str, Any], metric: str) -> list[str]:
    regimes = summary["regimes"]
    rows = [
        [v, *(_est(summary["means"].get(r, {}).get(v, {}).get(metric)) for r in regimes)]
        for v in _variants(summary)
    ]
    return _table(["variant", *regimes], rows)


def _paired_table(summary: Mapping[str, Any], metric: str) -> list[str]:
    regimes, base = summary["regimes"], summary["baseline"]
    rows = [
        [
            f"{v} - {base}",
            *(_est(summary["paired"].get(r, {}).get(v, {}).get(metric), True) for r in regimes),
        ]
        for v in _variants(summary)
        if v != base
    ]
    return _table(["difference", *regimes], rows)


def _language_table(summary: Mapping[str, Any], variant: str) -> list[str]:
    regimes = summary["regimes"]
    per = {
        r: summary["paired"].get(r, {}).get(variant, {}).get("per_language", {}) for r in regimes
    }
    langs = sorted({lang for d in per.values() for lang in d})
    rows = [[lang, *(_est(per[r].get(lang), True) for r in regimes)] for lang in langs]
    return _table(["language", *regimes], rows)


def _signal_table(summary: Mapping[str, Any]) -> list[str]:
    names = (
        ("score_difference", "annotation-score difference s_w - s_l (CAPO's q_s)"),
        ("translation_confidence", "translation confidence (CAPO's q_t)"),
        ("reference_preference", "reference's own preference log pi_ref(y_w) - log pi_ref(y_l)"),
        ("dpo_margin", "margin of the model after DPO (what CAPO's c reads)"),
        ("realized_noise", "realized share of corrupted learnable pairs"),
    )
    rows = [
        [label, *(_est(summary["signals"].get(r, {}).get(key)) for r in summary["regimes"])]
        for key, label in names
    ]
    return _table(["signal (AUC for clean)", *summary["regimes"]], rows)


def _weights_table(summary: Mapping[str, Any]) -> list[str]:
    rows = []
    for v in _variants(summary):
        cells = []
        for r in summary["regimes"]:
            d = summary["means"].get(r, {}).get(v)
            if not d or not d["noisy_mean_w"]["n"]:
                cells.append("-")
                continue
            cells.append(f"{d['noisy_mean_w']['mean']:.2f} / {d['clean_mean_w']['mean']:.2f}")
        rows.append([v, *cells])
    return _table(["variant (as if its settings were CAPO's)", *summary["regimes"]], rows)


def _share_table(summary: Mapping[str, Any]) -> list[str]:
    regimes = [r for r in summary["regimes"] if r in summary["oracle_share"]]
    variants = sorted({v for r in regimes for v in summary["oracle_share"][r]})

    def cell(value: float | None) -> str:
        return "-" if value is None else f"{value:+.0%}"

    rows = [[v, *(cell(summary["oracle_share"][r].get(v)) for r in regimes)] for v in variants]
    return _table(["variant", *regimes], rows)


def _corrected_section(summary: Mapping[str, Any]) -> list[str]:
    """The verdict: CAPO against every method per regime, Bonferroni-corrected intervals."""
    cand, base = summary["candidate"], summary["baseline"]
    rows, margin_rows = [], []
    for regime in summary["regimes"]:
        c = summary["verdicts"][regime].get("corrected")
        if not c:
            continue
        acc, mar = c["vs"]["reward_accuracy"], c["vs"]["reward_margin"]
        pick = c["validation_pick"] or "-"
        best = min(
            (n for n in acc if n != base and acc[n]["mean"] is not None),
            key=lambda n: acc[n]["mean"],
            default=None,
        )  # the method closest to (or above) CAPO
        rows.append(
            [
                regime,
                pick,
                _est(acc.get(base), True),
                f"{best}: {_est(acc.get(best), True)}" if best else "-",
                str(c["comparisons"]),
                c["text"],
            ]
        )
        margin_rows.append([regime, *(f"{n}: {_est(e, True)}" for n, e in sorted(mar.items()))])
    if not rows:
        return []
    level = next(
        summary["verdicts"][r]["corrected"]["level"]
        for r in summary["regimes"]
        if summary["verdicts"][r].get("corrected")
    )
    return [
        "## Verdict per regime (test reward accuracy, Bonferroni-corrected)",
        "",
        *_table(
            [
                "regime",
                "validation picks",
                f"{cand} - tuned {base}",
                f"{cand} - closest other method",
                "comparisons",
                "verdict",
            ],
            rows,
        ),
        f"Differences are paired by test seed; each interval is at level {level:.4f}, so the",
        "comparisons of one regime hold together at 95% (Bonferroni). `*` marks an interval",
        'that excludes 0. "Validation picks" is the method with the highest validation reward',
        "accuracy at its chosen settings (the tuning seed, never a test seed).",
        "",
        f"## {cand} against every method in test reward margin (Bonferroni-corrected)",
        "",
        *_table(["regime", "differences"], [[r[0], "; ".join(r[1:])] for r in margin_rows]),
    ]


def study_setup(params: Any, protocol_file: str = "params.yaml") -> dict[str, Any]:
    """What the study trained and on what, for the report's first line: the model, LoRA,
    SFT epochs, languages and pair counts, optimizer steps' batch size."""
    bench, train = params.ingest.benchmark, params.train
    return {
        "model": params.policy.model,
        "lora": (
            {"r": train.lora.r, "target_modules": list(train.lora.target_modules)}
            if train.lora.enabled
            else None
        ),
        "sft_epochs": params.study.sft_epochs,
        "chat_format": params.ingest.chat_format,
        "languages": list(bench.languages),
        "train_pairs": bench.train_pairs,
        "validation_pairs": params.study.validation_pairs,
        "test_pairs": bench.test_pairs,
        "batch_size": train.batch_size,
        "protocol_file": protocol_file,
    }


def _setup_line(setup: Mapping[str, Any]) -> str:
    lora = setup.get("lora")
    model = Path(str(setup["model"])).name
    how = f"LoRA r {lora['r']} on {'/'.join(lora['target_modules'])}" if lora else "all weights"
    sft = "no SFT" if setup.get("sft_epochs") == 0 else f"SFT {setup.get('sft_epochs'):g} epochs"
    chat = ", pairs as conversations" if setup.get("chat_format") == "messages" else ""
    return (
        f"Model: `{model}`, {how}, {sft}{chat}; languages {', '.join(setup['languages'])};"
        f" {setup['train_pairs']} training, {setup['validation_pairs']} validation and"
        f" {setup['test_pairs']} test pairs a seed; batch {setup['batch_size']}."
    )


def study_markdown(
    result: Mapping[str, Any], summary: Mapping[str, Any], figure: str | None
) -> str:
    """The study as Markdown: criteria first, then verdicts, signals, means and differences."""
    base, cand, abl = summary["baseline"], summary["candidate"], summary["ablation"]
    seeds = sorted({r["seed"] for r in result["runs"]})
    regimes = result["regimes"]
    settings_rows = [
        [r, v, str(s or "-")] for r, per in result["settings"].items() for v, s in per.items() if s
    ]
    focal = summary.get("focal", "focal")
    verdict_rows = [
        [
            r,
            _est(summary["paired"].get(r, {}).get(cand, {}).get("reward_accuracy"), True),
            _est(summary["verdicts"][r]["vs_ablation"], True),
            _est(summary["verdicts"][r].get("vs_focal"), True),
            summary["verdicts"][r]["text"],
        ]
        for r in summary["regimes"]
    ]
    policies = [p for p in result.get("policies", []) if "regimes" in p]
    policy = mean_ci(p.get("generation_accuracy") for p in policies)
    full = next((p["full_sft"] for p in policies if "full_sft" in p), None)
    setup = result.get("setup") or {}
    pretrained = setup.get("sft_epochs") == 0  # no SFT: the model as shipped is the policy
    lines = [
        "# Noise study: does CAPO beat what practitioners would do instead?",
        "",
    ]
    if setup:
        lines += [_setup_line(setup), ""]
    if summary.get("protocol"):
        lines += [
            f"## Protocol (pre-registered in {setup.get('protocol_file', 'params.yaml')}"
            " before the run)",
            "",
            summary["protocol"],
        ]
    lines += _corrected_section(summary)
    lines += [
        "## Study v2's criteria (descriptive contrasts)",
        "",
        CRITERIA,
        "## Contrasts per regime (test reward accuracy, paired by seed, 95% per interval)",
        "",
        *_table(
            ["regime", f"{cand} - {base}", f"{cand} - {abl}", f"{cand} - {focal}", "verdict"],
            verdict_rows,
        ),
        f"`{cand} - {focal}` is descriptive, not a criterion: what the data confidence adds to",
        f"up-weighting hard pairs ({focal}: gamma 1, direction up, no scores or translation",
        "confidence); it matters when the tuned candidate up-weights too.",
        "",
        "## Design",
        "",
        f"Seeds {seeds}: each its own data sample, "
        + ("and training order" if pretrained else "SFT policy and training order")
        + ". Regimes:",
        "",
        *_table(
            ["regime", "noise model", "noise", "score noise sd"],
            [
                [r["name"], r["noise_model"], f"{r['noise']:g}", f"{r['score_noise']:g}"]
                for r in regimes
            ],
        ),
        "Every variant is trained from "
        + ("the model as shipped (no SFT)" if pretrained else "the seed's SFT policy")
        + " on the same pairs; the test and",
        "validation splits are clean and ask questions never asked in training. Cells: mean over",
        "seeds [95% Student-t interval]; differences are paired by seed, `*` marks an interval",
        "that excludes 0. Settings of grids were chosen per regime on the validation split at",
        "one seed; the test split was never used for a choice.",
        "",
        "## How much the starting policy knew",
        "",
        *(
            [
                f"The policy (the model as shipped, no SFT) answers {_est(policy.as_dict())} of",
                "the test questions (greedy exact match).",
            ]
            if pretrained
            else [
                f"The study's SFT policies answer {_est(policy.as_dict())} of the test questions",
                "(greedy exact match), from "
                f"{policies[0]['sft_demonstrations'] if policies else '?'}",
                "demonstrations that share no question with the preference pairs.",
            ]
        ),
    ]
    if full:
        lines += [
            "For contrast, the default pipeline's SFT (every training question,",
            f"{full['sft_epochs']:g} epochs, {full['sft_demonstrations']} demonstrations) answers",
            f"{full['generation_accuracy']:.3f}, and its reference preference separates noisy from",
            f"clean pairs with AUC {full['signal_auc']['reference_preference']:.3f} "
            f"({full['regime']}, seed {policies[0]['seed']}).",
        ]
    lines += [
        "",
        "## Signals: how well each one separates the noisy pairs from the clean (AUC)",
        "",
        *_signal_table(summary),
        "## Settings chosen on the validation split",
        "",
        *_table(["regime", "variant", "settings"], settings_rows),
        "## Test reward accuracy",
        "",
        *_means_table(summary, "reward_accuracy"),
        f"## Paired difference in test reward accuracy (variant - {base})",
        "",
        *_paired_table(summary, "reward_accuracy"),
    ]
    if summary.get("oracle_share"):  # an arm without an oracle has no share to report
        lines += ["## Share of the oracle's gain recovered", "", *_share_table(summary)]
    lines += [
        "## Mean CAPO weight of noisy / clean training pairs after training",
        "",
        *_weights_table(summary),
        f"## {cand} - {base} in test reward accuracy, per language",
        "",
        *_language_table(summary, cand),
    ]
    for metric in ("reward_margin", "generation_accuracy", "empty_rate"):
        lines += [f"## Test {metric.replace('_', ' ')}", "", *_means_table(summary, metric)]
    if figure:
        lines += [f"![Paired difference to DPO per regime]({figure})", ""]
    failed = result.get("failed") or []
    if failed:
        lines += [
            "## Failed trials",
            "",
            f"{len(failed)} trials did not finish; the numbers above leave them out. The next run",
            "of the study retries exactly these (finished trials are kept in its store).",
            "",
            *_table(["trial", "error"], [[f["name"], f["error"]] for f in failed]),
        ]
    return "\n".join(lines)


def study_figure(summary: Mapping[str, Any], path: str | Path, dpi: int = 110) -> Path:
    """Per regime, each variant minus the baseline (paired by seed, 95% interval)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    regimes, base = summary["regimes"], summary["baseline"]
    variants = [v for v in _variants(summary) if v != base]
    fig, ax = plt.subplots(figsize=(11, 4.5))
    width = 0.8 / max(len(variants), 1)
    for i, v in enumerate(variants):
        xs, ys, lo, hi = [], [], [], []
        for j, r in enumerate(regimes):
            d = summary["paired"].get(r, {}).get(v)
            if not d or not d["reward_accuracy"]["n"]:
                continue
            e = Estimate(**d["reward_accuracy"])
            xs.append(j - 0.4 + width * (i + 0.5))
            ys.append(e.mean)
            lo.append(e.mean - (e.low if e.low is not None else e.mean))
            hi.append((e.high if e.high is not None else e.mean) - e.mean)
        ax.bar(xs, ys, width, yerr=[lo, hi], capsize=2, label=f"{v} - {base}", color=f"C{i}")
    ax.axhline(0.0, color="black", linewidth=0.8)
    ax.set_xticks(range(len(regimes)))
    ax.set_xticklabels(regimes)
    ax.set_ylabel(f"test reward accuracy - {base}")
    ax.set_title(f"Each variant minus {base}, paired by seed (mean, 95% CI)")
    ax.grid(alpha=0.3, axis="y")
    ax.legend(fontsize=8, ncol=3)
    fig.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=dpi, metadata={"Software": None})
    plt.close(fig)
    return path
