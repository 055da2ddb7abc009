"""scripts/gpu_check/gpu_check.py on the CPU, tiny: the JSON the GPU machine would send back.

The script is what runs on the lent GPU machine, whose image has no trl, datasets, DVC,
Prefect, Great Expectations, gguf, matplotlib or lingua; so besides the JSON the test checks
that running it imports none of the project's heavy or absent dependencies.
"""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "scripts" / "gpu_check" / "gpu_check.py"
ABSENT = ("dvc", "prefect", "great_expectations", "gguf", "matplotlib", "lingua", "babel")

# Runs the script in this interpreter, then reports which absent-on-the-GPU packages it loaded.
DRIVER = """
import json, runpy, sys
script, absent = sys.argv[1], sys.argv[2].split(",")
sys.argv = [script, *sys.argv[3:]]
try:
    runpy.run_path(script, run_name="__main__")
except SystemExit as e:
    if e.code:
        raise
print("LOADED " + json.dumps(sorted(m for m in absent if m in sys.modules)))
"""

STEPS, SEEDS, TIMED = 3, 2, 2


@pytest.fixture(scope="module")
def result(tmp_path_factory) -> dict:
    out = tmp_path_factory.mktemp("gpu-check") / "gpu_check.json"
    env = {k: v for k, v in os.environ.items() if k != "OUT"}
    env["PYTHONPATH"] = str(ROOT)
    args = ["--tiny", "--device", "cpu", "--threads", "1", "--out", str(out)]
    args += ["--study-steps", str(STEPS), "--seeds", str(SEEDS), "--timed", str(TIMED)]
    args += ["--capo-arm", "0:1", "--capo-arm", "1:2"]
    proc = subprocess.run(
        [sys.executable, "-c", DRIVER, str(SCRIPT), ",".join(ABSENT), *args],
        cwd=out.parent,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    loaded = [line for line in proc.stdout.splitlines() if line.startswith("LOADED ")]
    data = json.loads(out.read_text(encoding="utf-8"))
    data["_loaded"] = json.loads(loaded[-1].removeprefix("LOADED "))
    data["_stdout"] = proc.stdout
    return data


def test_imports_nothing_the_gpu_image_lacks(result):
    assert result["_loaded"] == []


def test_timing_has_a_ratio_of_medians(result):
    t = result["timing"]
    assert len(t["capo_ms"]) == len(t["dpo_ms"]) == TIMED
    assert t["ratio_capo_over_dpo"] == pytest.approx(
        t["capo_median_ms"] / t["dpo_median_ms"], rel=1e-3
    )
    assert t["ratio_capo_over_dpo"] > 0 and t["meets_goal"] == (t["ratio_capo_over_dpo"] <= 1.03)
    assert all(math.isfinite(v) for v in t["losses"]["capo"] + t["losses"]["dpo"])
    assert t["linear_output_dtypes"] == {"capo": ["torch.float32"], "dpo": ["torch.float32"]}
    assert "ratio" in result["_stdout"] and "timing:" in result["_stdout"]


def test_memory_is_explicitly_unmeasured_on_cpu(result):
    mem = result["memory"]
    assert mem["capo_peak_mib"] is None and mem["dpo_peak_mib"] is None
    assert "no CUDA" in mem["note"]
    assert result["environment"]["device"] == "cpu" and result["environment"]["bf16"] is False


def test_study_trains_every_arm_for_the_given_steps(result):
    study = result["study"]
    assert set(study["arms"]) == {"dpo", "capo_g0_k1", "capo_g1_k2"}
    assert study["flipped"] == round(0.3 * study["train_pairs"]) > 0
    # margin noise keeps scores with answers: flipped pairs mostly have the lower chosen score
    assert study["flipped_with_lower_chosen_score"] > study["flipped"] / 2
    for name, arm in study["arms"].items():
        assert [s["seed"] for s in arm["seeds"]] == list(range(SEEDS)), name
        for run in arm["seeds"]:
            assert run["steps"] == STEPS, name
            assert len(run["train_losses"]) == STEPS, name
            assert 0.0 <= run["reward_accuracy"] <= 1.0, name
            assert run["relative_weight_change"] > 0, name
        accs = [s["reward_accuracy"] for s in arm["seeds"]]
        assert arm["reward_accuracy_mean"] == pytest.approx(sum(accs) / len(accs))
    # CAPO's data confidence weights the pairs: its losses differ from DPO's on the same
    # seed, model and batches (DPO's first step is exactly log 2, CAPO's is q-weighted)
    for seed in range(SEEDS):
        dpo = study["arms"]["dpo"]["seeds"][seed]["train_losses"]
        capo = study["arms"]["capo_g0_k1"]["seeds"][seed]["train_losses"]
        assert dpo[0] == pytest.approx(math.log(2), abs=1e-3)
        assert capo[0] < dpo[0] - 1e-3
