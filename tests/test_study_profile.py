"""Study profiles: dotted overrides over params.yaml (the real-model arm's settings), and the
benchmark's pairs as conversations when ingest.chat_format says so."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
import yaml

from capo_pipelines.noise_study.trials import _formatted
from capo_pipelines.params import ParamsError, apply_profile, load_params

ROOT = Path(__file__).resolve().parents[1]
ARM = ROOT / "studies" / "smollm2" / "profile.yaml"


def test_a_profile_sets_dotted_keys_and_replaces_whole_values(tmp_path):
    raw = {"train": {"lora": {"enabled": False, "r": 8}, "losses": ["capo", "sigmoid"]}}
    profile = tmp_path / "p.yaml"
    profile.write_text("train.lora.enabled: true\ntrain.losses: [sigmoid]\nstudy.budget: 2\n")
    out = apply_profile(raw, profile)
    assert out == {
        "train": {"lora": {"enabled": True, "r": 8}, "losses": ["sigmoid"]},
        "study": {"budget": 2},
    }
    assert raw["train"]["lora"]["enabled"] is False  # the params it was given are not touched


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("- a\n- b\n", "a profile is a mapping of dotted params keys to values"),
        ("seed.x: 1\n", "seed.x: seed is not a section"),
        ("train: [\n", "invalid YAML"),
    ],
)
def test_a_bad_profile_is_one_error_naming_it(tmp_path, text, message):
    profile = tmp_path / "bad.yaml"
    profile.write_text(text)
    with pytest.raises(ParamsError, match=message) as err:
        apply_profile({"seed": 0}, profile)
    assert str(profile) in str(err.value)


def test_an_unknown_key_in_a_profile_names_the_params_and_the_profile(tmp_path):
    profile = tmp_path / "p.yaml"
    profile.write_text("train.learning_rat: 0.1\n")
    with pytest.raises(ParamsError, match=r"params.yaml \+ .*p.yaml: .*learning_rat"):
        load_params(ROOT / "params.yaml", profile)


def test_the_study_stage_reports_a_bad_profile_in_one_line(tmp_path):
    profile = tmp_path / "p.yaml"
    profile.write_text("study.budget: -1\n")
    proc = subprocess.run(
        [sys.executable, "-m", "capo_pipelines.study", "--profile", str(profile),
         "--work-dir", str(tmp_path / "work"), "--out-json", str(tmp_path / "s.json")],
        cwd=ROOT, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert proc.returncode == 3, proc.stderr
    assert "Traceback" not in proc.stderr and "study.budget" in proc.stderr
    assert not (tmp_path / "s.json").exists()


def test_the_real_model_arm_is_a_valid_pre_registered_study():
    params = load_params(ROOT / "params.yaml", ARM)
    study = params.study
    assert params.policy.model.endswith(".gguf") and params.train.lora.enabled
    assert params.ingest.chat_format == "messages" and study.sft_epochs == 0
    assert study.tune_seed not in study.seeds and len(study.seeds) >= 3
    regimes = {r.name for r in study.regimes}
    assert {"margin-0.4", "translation-0.4"} <= regimes
    for regime in regimes:  # tuned DPO, CAPO and two other methods in every regime
        names = {v.name for v in study.variants if v.runs_in(regime)}
        assert {"sigmoid", "capo"} <= names and len(names) == 4, (regime, names)
    assert "Written down" in study.protocol
    # the profile changes nothing of the default pipeline's own params
    assert load_params(ROOT / "params.yaml").policy.model == "builtin-tiny"
    stage = yaml.safe_load((ROOT / "studies" / "smollm2" / "dvc.yaml").read_text())
    cmd = stage["stages"]["study"]["cmd"]
    assert "--profile studies/smollm2/profile.yaml" in cmd
    assert "studies/smollm2/profile.yaml" in stage["stages"]["study"]["deps"]


def test_benchmark_pairs_become_one_user_and_one_assistant_turn():
    frame = pd.DataFrame(
        {"prompt": ["Say 3 in German."], "chosen": ["drei"], "rejected": ["vier"], "x": [1]}
    )
    assert "messages" not in _formatted(frame, "text")
    assert "messages" not in _formatted(frame, "auto")  # plain benchmark pairs stay plain
    out = _formatted(frame, "messages")
    assert out["x"].tolist() == [1] and "messages" not in frame
    assert json.loads(out["messages"][0]) == {
        "prompt": [{"role": "user", "content": "Say 3 in German."}],
        "chosen": [{"role": "assistant", "content": "drei"}],
        "rejected": [{"role": "assistant", "content": "vier"}],
    }


def _tiny_study(tmp_path: Path, sft_epochs: float):
    raw = {
        "ingest": {"benchmark": {"train_pairs": 45, "test_pairs": 18, "max_number": 99}},
        "policy": {"hidden_size": 32, "num_layers": 1, "num_heads": 2},
        "evaluate": {"max_new_tokens": 2},
        "study": {
            "variants": [{"name": "sigmoid", "loss": "sigmoid"}],
            "regimes": [{"name": "margin-0.4", "noise_model": "margin", "noise": 0.4}],
            "seeds": [0],
            "tune_seed": 1,
            "validation_pairs": 18,
            "sft_epochs": sft_epochs,
            "compare_full_sft": False,
        },
    }
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(raw))
    return load_params(tmp_path / "params.yaml")


def test_a_committed_seed_gets_its_shipped_policy_back_byte_for_byte(tmp_path):
    """With no SFT a seed's policy is the model as shipped: restoring it from the seed's kept
    pairs and record gives the files prepare_seed saved, byte for byte; with SFT, or with
    the policy present, nothing is restored."""
    from capo_pipelines.noise_study.trials import prepare_seed
    from capo_pipelines.study import restore_shipped_policies

    params = _tiny_study(tmp_path, 0.0)
    work = tmp_path / "work"
    prepare_seed(params, 0, work)
    policy = work / "seed-0" / "policy"
    saved = {f.name: f.read_bytes() for f in policy.iterdir()}
    assert "model.safetensors" in saved and (work / "seed-0" / "policy.json").is_file()
    assert restore_shipped_policies(params, work) == []  # whole: nothing to do
    for f in policy.iterdir():
        f.unlink()
    policy.rmdir()
    assert restore_shipped_policies(params, work) == [0]
    assert {f.name: f.read_bytes() for f in policy.iterdir()} == saved
    for f in policy.iterdir():
        f.unlink()
    with_sft = _tiny_study(tmp_path, 0.5)  # an SFT'd policy cannot be restored: prepare again
    assert restore_shipped_policies(with_sft, work) == []
    assert not any(policy.iterdir())
