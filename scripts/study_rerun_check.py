"""Re-run a few noise-study trials with the current code and params; compare to the committed JSON.

    python scripts/study_rerun_check.py SEED REGIME VARIANT [VARIANT ...]

The study records every trial. After a change that should not alter them (the report code,
`loss:` defaults that no variant reads), this re-runs some from scratch (the seed's SFT
included, one torch thread as in the study's workers) and prints IDENTICAL or DIFFERENT for
each. Only when all are identical may `dvc commit studies/noise/dvc.yaml` record the new code
hashes without the 50-minute rerun.
"""

from __future__ import annotations

import json
import sys
import tempfile
from pathlib import Path

import torch

from capo_pipelines.noise_study.trials import prepare_seed, run_trial
from capo_pipelines.params import load_params

KEYS = ("reward_accuracy", "reward_margin", "generation_accuracy", "noisy_mean_w")
KEYS += ("clean_mean_w", "margin_auc", "per_language")


def main(argv: list[str]) -> int:
    if len(argv) < 3:
        print(__doc__)
        return 2
    torch.set_num_threads(1)
    seed, regime, names = int(argv[0]), argv[1], argv[2:]
    params = load_params("params.yaml")
    result = json.loads(Path("reports/noise_study.json").read_text(encoding="utf-8"))
    variants = {v.name: v for v in params.study.variants}
    different = 0
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        prepare_seed(params, seed, work)
        for name in names:
            settings = result["settings"][regime][name]
            rec = run_trial(params, work, variants[name], settings, regime, seed, "test")
            old = next(
                r
                for r in result["runs"]
                if (r["variant"], r["regime"], r["seed"]) == (name, regime, seed)
            )
            same = all(rec[k] == old[k] for k in KEYS)
            different += not same
            shown = {k: (old[k], rec[k]) for k in KEYS[:3]}
            print(name, regime, seed, "IDENTICAL" if same else "DIFFERENT", shown)
    return 1 if different else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
