"""The policy stage: the built-in tiny policy, hub/local models, SFT in the DPO format."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
import torch
from safetensors.torch import load_file

from capo.errors import EXIT_INPUT, CapoError
from capo_pipelines.models.logps import tokenize_pairs
from capo_pipelines.models.reproducible import LOAD_TIME_KEYS
from capo_pipelines.models.sft import (
    build_builtin_policy,
    load_pretrained,
    make_sft_trainer,
    prepare_policy,
    sft_examples,
)
from capo_pipelines.params import PolicyParams
from tests.test_reference import pairs_frame

TINY = dict(vocab_size=400, hidden_size=32, num_layers=1, num_heads=2, max_length=64)


def _texts(pairs: pd.DataFrame) -> list[str]:
    return [*pairs["prompt"], *pairs["chosen"], *pairs["rejected"]]


def test_builtin_policy_is_deterministic_and_sized_from_params():
    pairs = pairs_frame(16)
    params = PolicyParams(**TINY)
    (m1, t1), (m2, t2) = (build_builtin_policy(params, _texts(pairs), seed=3) for _ in range(2))
    assert t1.get_vocab() == t2.get_vocab() and len(t1) <= 400
    assert m1.config.hidden_size == 32 and m1.config.num_hidden_layers == 1
    assert m1.config.max_position_embeddings == 64
    for (name, a), b in zip(m1.state_dict().items(), m2.state_dict().values(), strict=True):
        assert torch.equal(a, b), name


def test_sft_sees_exactly_the_dpo_tokens(tmp_path):
    """SFT trains on prompt+chosen+EOS as DPOTrainer tokenises it, loss on the completion only."""
    pairs = pairs_frame(8)
    params = PolicyParams(**TINY)
    model, tok = build_builtin_policy(params, _texts(pairs), seed=0)
    examples = sft_examples(PolicyParams(**TINY, sft_data="chosen"), pairs, None)
    trainer = make_sft_trainer(model, tok, examples, params, seed=0, output_dir=tmp_path)
    dpo = tokenize_pairs(tok, pairs)
    for row, ex in zip(trainer.train_dataset, dpo, strict=True):
        assert row["input_ids"] == ex["prompt_ids"] + ex["chosen_ids"]
        assert row["labels"] == [-100] * len(ex["prompt_ids"]) + ex["chosen_ids"]


@pytest.mark.slow
def test_builtin_stage_learns_to_answer_then_stop(tmp_path):
    """After SFT, greedy decoding right after the prompt gives the chosen answer and EOS."""
    pairs = pairs_frame(8)
    params = PolicyParams(**TINY, sft_epochs=60, sft_batch_size=8, sft_learning_rate=1e-2)
    prepare_policy(params, pairs, tmp_path / "policy", seed=0)
    saved = {p.name for p in (tmp_path / "policy").iterdir()}
    assert {"model.safetensors", "config.json", "tokenizer.json"} <= saved
    assert not any(name.endswith((".bin", ".pt")) for name in saved)
    model, tok = load_pretrained(str(tmp_path / "policy"))
    assert tok.chat_template and tok.eos_token == "<|eos|>"
    right = 0
    for prompt, chosen in zip(pairs["prompt"], pairs["chosen"], strict=True):
        ids = tok(text=prompt, return_tensors="pt")["input_ids"]
        out = model.generate(ids, max_new_tokens=24, do_sample=False)[0, ids.shape[1] :]
        right += out[-1].item() == tok.eos_token_id and tok.decode(out[:-1]) == chosen
    assert right >= 6, right


def test_sft_takes_clean_demonstrations_not_the_noisy_chosen_answers():
    pairs = pairs_frame(6)
    demos = pd.DataFrame({"prompt": ["Say 1:", "Say 2:"], "completion": [" one", " two"]})
    auto = sft_examples(PolicyParams(**TINY), pairs, demos)
    assert auto.to_dict("list") == demos.to_dict("list")
    chosen = sft_examples(PolicyParams(**TINY, sft_data="chosen"), pairs, demos)
    assert list(chosen["completion"]) == list(pairs["chosen"])
    assert list(sft_examples(PolicyParams(**TINY), pairs, None)["completion"]) == list(
        pairs["chosen"]
    )
    with pytest.raises(CapoError, match="sft_data is 'demonstrations' but there are none"):
        sft_examples(PolicyParams(**TINY, sft_data="demonstrations"), pairs, demos.iloc[:0])


def test_local_model_directory_loads_safetensors(tmp_path, make_tiny_model, tiny_tokenizer):
    src = tmp_path / "hub-like"
    make_tiny_model(seed=5).save_pretrained(src)
    tiny_tokenizer.save_pretrained(src)
    params = PolicyParams(model=str(src), sft_epochs=0, max_length=64)
    prepare_policy(params, pairs_frame(4), tmp_path / "policy")
    a, b = load_file(src / "model.safetensors"), load_file(tmp_path / "policy/model.safetensors")
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def test_a_saved_policy_does_not_depend_on_hf_hub_offline(
    tmp_path, make_tiny_model, tiny_tokenizer
):
    """The policy stage loads a local model with HF_HUB_OFFLINE=1 and without it (in
    subprocesses: huggingface_hub reads the variable at import) and saves the same bytes."""
    src = tmp_path / "hub-like"
    make_tiny_model(seed=5).save_pretrained(src)
    tiny_tokenizer.save_pretrained(src)
    pairs_frame(4).to_parquet(tmp_path / "train.parquet")
    (tmp_path / "params.yaml").write_text(f"policy: {{model: {src}, sft_epochs: 0}}\n")
    root = Path(__file__).resolve().parents[1]
    saved = {}
    for offline in ("1", None):
        env = {k: v for k, v in os.environ.items() if k != "HF_HUB_OFFLINE"}
        env |= {"HF_HUB_OFFLINE": offline} if offline else {}
        out = tmp_path / f"policy-offline-{offline}"
        cmd = [
            sys.executable,
            "-m",
            "capo_pipelines.policy",
            "--params",
            str(tmp_path / "params.yaml"),
        ]
        cmd += ["--train", str(tmp_path / "train.parquet"), "--out", str(out)]
        done = subprocess.run(cmd, capture_output=True, text=True, cwd=root, env=env, timeout=300)
        assert done.returncode == 0, done.stderr
        saved[offline] = {p.name: p.read_bytes() for p in sorted(out.iterdir()) if p.is_file()}
    assert "tokenizer_config.json" in saved["1"] and "model.safetensors" in saved["1"]
    assert saved["1"] == saved[None]
    config = json.loads(saved["1"]["tokenizer_config.json"])
    assert not set(LOAD_TIME_KEYS) & set(config)
    assert config["eos_token"] == tiny_tokenizer.eos_token  # the tokenizer's own settings stay


def test_bad_model_paths_are_capo_errors(tmp_path, make_tiny_model):
    with pytest.raises(CapoError, match=r"no such model directory: .*missing"):
        load_pretrained(str(tmp_path / "missing"))
    legacy = tmp_path / "legacy"
    model = make_tiny_model()
    model.config.save_pretrained(legacy)
    torch.save(model.state_dict(), legacy / "pytorch_model.bin")
    with pytest.raises(CapoError, match=r"legacy: no \*.safetensors weights"):
        load_pretrained(str(legacy))


def test_stage_exits_3_without_traceback(tmp_path):
    pairs_frame(4).to_parquet(tmp_path / "train.parquet")
    (tmp_path / "params.yaml").write_text(f"policy: {{model: {tmp_path / 'nowhere'}}}\n")
    cmd = [sys.executable, "-m", "capo_pipelines.policy", "--params", str(tmp_path / "params.yaml")]
    cmd += ["--train", str(tmp_path / "train.parquet"), "--out", str(tmp_path / "out")]
    root = Path(__file__).resolve().parents[1]
    done = subprocess.run(cmd, capture_output=True, text=True, cwd=root, timeout=300)
    assert done.returncode == EXIT_INPUT, done.stderr
    assert "policy: error: no such model directory" in done.stderr
    assert "Traceback" not in done.stderr
