"""`pip install capo` is the core: in a fresh virtualenv with nothing else, the core trains.

The virtualenv gets the machine's torch (as scripts/setup.sh installs it: pip takes the
local CPU wheel where there is one) and then capo without extras, from this checkout. It must
hold no pipeline package (DVC, Prefect, Great Expectations, GTO, matplotlib, lingua), and
`from capo import capo_loss, CAPOConfig, CAPOTrainer` must train a tiny model for two steps.
The package count and install time are printed (pytest -s) for the record, never asserted.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

ROOT = Path(__file__).resolve().parents[1]
PIPELINE_ONLY = ("dvc", "prefect", "great-expectations", "gto", "matplotlib", "babel")
PIPELINE_ONLY += ("lingua-language-detector", "num2words", "dvclive", "scipy", "gguf")

TRAIN_TWO_STEPS = r"""
import copy, sys, tempfile, torch
from datasets import Dataset
from tokenizers import Tokenizer, models, pre_tokenizers
from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast
from capo import CAPOConfig, CAPOTrainer, LossSettings, capo_loss

words = "<pad> <eos> what is two three four yes no".split()
raw = Tokenizer(models.WordLevel({w: i for i, w in enumerate(words)}, unk_token="<pad>"))
raw.pre_tokenizer = pre_tokenizers.Whitespace()
tok = PreTrainedTokenizerFast(tokenizer_object=raw, pad_token="<pad>", eos_token="<eos>")
torch.manual_seed(0)
config = LlamaConfig(vocab_size=len(words), hidden_size=16, intermediate_size=32,
                     num_hidden_layers=1, num_attention_heads=2, num_key_value_heads=2,
                     pad_token_id=0, eos_token_id=1, bos_token_id=None)
data = Dataset.from_dict({
    "prompt": ["what is two", "what is three"] * 2, "chosen": [" yes", " no"] * 2,
    "rejected": [" no", " yes"] * 2, "score_chosen": [2.0, 1.0] * 2,
    "score_rejected": [0.0, 0.5] * 2,
})
args = CAPOConfig(output_dir=tempfile.mkdtemp(), max_steps=2, per_device_train_batch_size=2,
                  learning_rate=1e-2, report_to="none", use_cpu=True, disable_tqdm=True,
                  logging_steps=1, kappa=0.5, direction="up", save_strategy="no", bf16=False,
                  gradient_checkpointing=False)
assert args.settings == LossSettings(kappa=0.5, direction="up")
model = LlamaForCausalLM(config)
trainer = CAPOTrainer(model, ref_model=copy.deepcopy(model), args=args, train_dataset=data,
                      processing_class=tok)
trainer.train()
losses = [h["loss"] for h in trainer.state.log_history if "loss" in h]
weights = [h["capo/weight_mean"] for h in trainer.state.log_history if "capo/weight_mean" in h]
z = torch.zeros(2)
assert capo_loss(z, z, z, z)[0].shape == (2,)
print("trained", losses, weights)
try:
    CAPOConfig(output_dir="x", kappa=0)
except ValueError as err:
    print("refused:", err)
pipeline = sorted(m for m in sys.modules if m.split(".")[0] in ("pandas_gbq", "dvc", "prefect"))
print("pipeline modules:", pipeline)
model.save_pretrained("tiny")  # for `capo train` below: a local model folder and a JSONL file
tok.save_pretrained("tiny")
data.to_json("pairs.jsonl")
"""


@pytest.mark.slow
def test_the_core_installs_alone_and_trains(tmp_path):
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    py = str(venv / "bin" / "python")
    env = {**os.environ, "PIP_DISABLE_PIP_VERSION_CHECK": "1"}
    env.pop("VIRTUAL_ENV", None)
    pip = [py, "-m", "pip", "install", "-q"]
    torch_version = torch.__version__.split("+")[0]
    subprocess.run([*pip, f"torch=={torch_version}"], check=True, env=env, timeout=900)
    start = time.perf_counter()
    subprocess.run([*pip, str(ROOT)], check=True, env=env, timeout=900, cwd=tmp_path)
    seconds = time.perf_counter() - start
    listed = subprocess.run(
        [py, "-m", "pip", "list", "--format", "json"], capture_output=True, text=True, env=env
    )
    names = {p["name"].lower() for p in json.loads(listed.stdout)}
    print(f"\ncore install: {len(names)} packages, capo and its deps in {seconds:.0f} s")
    assert "capo" in names and {"torch", "transformers", "trl", "peft"} <= names
    assert not names & set(PIPELINE_ONLY), f"pipeline packages in a core install: {names}"
    shown = subprocess.run([py, "-m", "pip", "show", "-f", "capo"], capture_output=True,
                           text=True, env=env).stdout  # fmt: skip
    files = sorted(line.strip() for line in shown.splitlines() if line.strip().endswith(".py"))
    core = sorted(f"capo/{p.name}" for p in ROOT.joinpath("capo").glob("*.py"))
    print(f"core install: files {files}")
    assert files == core, f"the capo wheel holds more (or less) than the core: {files}"
    run = subprocess.run(
        [py, "-c", TRAIN_TWO_STEPS], capture_output=True, text=True, env=env, cwd=tmp_path,
        timeout=600,
    )  # fmt: skip
    assert run.returncode == 0, run.stderr[-3000:]
    out = run.stdout
    assert "trained" in out and "pipeline modules: []" in out
    assert "refused: kappa must be > 0, got 0.0" in out
    # the `capo` command says what is missing instead of a traceback
    cli = subprocess.run(
        [str(venv / "bin" / "capo"), "serve", "--help"], capture_output=True, text=True, env=env,
        cwd=tmp_path,
    )  # fmt: skip
    assert cli.returncode == 2 and "pip install -e ./pipelines" in cli.stderr, cli.stderr
    assert "Traceback" not in cli.stderr
    for argv in (["--help"], ["--version"]):  # the core's own command works without the workflow
        ok = subprocess.run([str(venv / "bin" / "capo"), *argv], capture_output=True, text=True,
                            env=env, cwd=tmp_path)  # fmt: skip
        assert ok.returncode == 0, ok.stderr
    assert "capo 0.1.0" in ok.stdout
    # `capo train`, TRL-style, from a local model folder and a local JSONL, core only
    train = subprocess.run(
        [str(venv / "bin" / "capo"), "train", "--model_name_or_path", "tiny",
         "--dataset_name", "pairs.jsonl", "--output_dir", "trained", "--max_steps", "2",
         "--per_device_train_batch_size", "2", "--learning_rate", "1e-2", "--bf16", "false",
         "--gradient_checkpointing", "false", "--use_cpu", "--report_to", "none",
         "--save_strategy", "no", "--logging_steps", "1", "--gamma", "1", "--direction", "up",
         "--disable_tqdm", "true"],
        capture_output=True, text=True, env=env, cwd=tmp_path, timeout=600,
    )  # fmt: skip
    assert train.returncode == 0, train.stderr[-3000:]
    assert (tmp_path / "trained" / "model.safetensors").is_file(), train.stdout
    card = (tmp_path / "trained" / "README.md").read_text(encoding="utf-8")
    assert "CAPO" in card and "2511.07691" in card
