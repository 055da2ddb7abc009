"""CAPOTrainer/CAPOConfig as a drop-in for TRL's DPOTrainer/DPOConfig (issue 31).

TRL's own example (the DPOTrainer docs' quick start) with only "DPO" replaced by "CAPO" in the
names: same positional order, a streaming dataset, TRL's defaults for gradient checkpointing
and bf16, and the model card TRL writes names CAPO and cites its paper.
"""

from __future__ import annotations

import dataclasses
import inspect
import logging

import pytest
from datasets import Dataset
from trl import DPOConfig, DPOTrainer

from capo import CAPOConfig, CAPOTrainer
from tests.conftest import toy_pairs

pytestmark = pytest.mark.slow


def _scored(n: int) -> list[dict]:
    return [
        r | {"score_chosen": 4.0, "score_rejected": 1.0 + (i % 3)}
        for i, r in enumerate(toy_pairs(n))
    ]


def test_trl_example_with_dpo_renamed_capo_streams_and_checkpoints(
    tmp_path, make_tiny_model, tiny_tokenizer
):
    from transformers import AutoModelForCausalLM

    make_tiny_model().save_pretrained(tmp_path / "tiny")  # stands in for a hub id
    model = AutoModelForCausalLM.from_pretrained(tmp_path / "tiny")
    train_dataset = Dataset.from_list(_scored(16)).to_iterable_dataset()  # streaming
    # TRL: training_args = DPOConfig(output_dir=...); only the class name changes, plus what a
    # CPU and a stream need (a stream has no length: max_steps)
    training_args = CAPOConfig(
        output_dir=str(tmp_path / "tiny-CAPO"),
        max_steps=2,
        per_device_train_batch_size=4,
        logging_steps=1,
        bf16=False,
        use_cpu=True,
        report_to="none",
        save_strategy="steps",
        save_steps=2,
        max_length=64,
    )
    assert training_args.activation_checkpointing is True  # TRL's default, kept
    trainer = CAPOTrainer(
        model=model,
        args=training_args,
        processing_class=tiny_tokenizer,
        train_dataset=train_dataset,
    )
    trainer.train()
    assert trainer.model.is_gradient_checkpointing
    logged = {k for h in trainer.state.log_history for k in h}
    assert "capo/weight_mean" in logged and trainer.state.global_step == 2
    card = (tmp_path / "tiny-CAPO" / "README.md").read_text(encoding="utf-8")
    assert "CAPO" in card and "2511.07691" in card
    assert "2305.18290" not in card  # TRL's DPO paper is not cited as this model's method
    assert "capo" in trainer.model.config.to_dict().get("tags", []) or "capo" in card


def test_defaults_are_dpoconfigs_except_the_loss():
    # TRL's bf16 default needs a GPU or use_cpu (a DPOConfig() on a CPU raises just the same)
    ours, theirs = CAPOConfig(output_dir="x", use_cpu=True), DPOConfig(output_dir="x", use_cpu=True)
    differ = {
        f.name
        for f in dataclasses.fields(DPOConfig)
        if f.init and getattr(ours, f.name) != getattr(theirs, f.name)
    }
    assert differ == {"loss_type"}, differ
    assert ours.bf16 == theirs.bf16 and ours.activation_checkpointing is True


def test_positional_order_is_dpotrainers():
    ours = list(inspect.signature(CAPOTrainer.__init__).parameters)[:7]
    theirs = list(inspect.signature(DPOTrainer.__init__).parameters)[:7]
    assert ours[:6] == theirs[:6]  # self, model, ref_model, args, data_collator, train_dataset...


def test_a_dpoconfig_is_converted_with_a_warning(tmp_path, make_tiny_model, tiny_tokenizer, caplog):
    args = DPOConfig(
        output_dir=str(tmp_path / "o"),
        max_steps=1,
        per_device_train_batch_size=4,
        bf16=False,
        gradient_checkpointing=False,
        use_cpu=True,
        report_to="none",
        save_strategy="no",
        learning_rate=3e-4,
        max_length=64,
    )
    make_tiny_model().save_pretrained(tmp_path / "tiny")
    with caplog.at_level(logging.WARNING, logger="capo.trainer"):
        trainer = CAPOTrainer(
            str(tmp_path / "tiny"),
            None,
            args,
            None,
            Dataset.from_list(toy_pairs(8)),
            None,
            tiny_tokenizer,
        )
    assert isinstance(trainer.args, CAPOConfig)
    assert trainer.args.learning_rate == 3e-4 and trainer.args.activation_checkpointing is False
    assert trainer.args.loss_type == ["sigmoid"]  # DPOConfig's own loss: plain DPO, said aloud
    assert any("converted to CAPOConfig" in r.message for r in caplog.records)
    with pytest.raises(TypeError, match="needs a CAPOConfig"):
        CAPOTrainer(make_tiny_model(), args={"lr": 1})


def test_capo_train_from_a_local_jsonl_and_a_recipe(tmp_path, make_tiny_model, tiny_tokenizer):
    """`capo train` (capo/train_command.py): TrlParser with CAPOConfig and ModelConfig, a
    local model folder, a JSONL file, a YAML recipe that flags override, and the CAPO
    settings reach the trainer."""
    import json

    from capo.train_command import main

    make_tiny_model().save_pretrained(tmp_path / "tiny")
    tiny_tokenizer.save_pretrained(tmp_path / "tiny")
    with open(tmp_path / "pairs.jsonl", "w", encoding="utf-8") as fh:
        for row in _scored(8):
            fh.write(json.dumps(row) + "\n")
    recipe = tmp_path / "recipe.yaml"
    recipe.write_text(
        "max_steps: 2\nper_device_train_batch_size: 4\nlearning_rate: 0.01\nbf16: false\n"
        "gradient_checkpointing: false\nuse_cpu: true\nreport_to: none\nsave_strategy: 'no'\n"
        "logging_steps: 1\ngamma: 3.0\ndirection: up\nkappa: 0.5\nmax_length: 64\n",
        encoding="utf-8",
    )
    out = tmp_path / "out"
    argv = ["--config", str(recipe), "--model_name_or_path", str(tmp_path / "tiny")]
    argv += ["--dataset_name", str(tmp_path / "pairs.jsonl"), "--output_dir", str(out)]
    argv += ["--gamma", "2.0"]  # a flag beats the recipe, as in TRL
    assert main(argv) == 0
    assert (out / "model.safetensors").is_file()
    saved = (
        json.loads((out / "training_args.json").read_text())
        if (out / "training_args.json").exists()
        else None
    )
    card = (out / "README.md").read_text(encoding="utf-8")
    assert "2511.07691" in card
    import torch

    args = torch.load(out / "training_args.bin", weights_only=False)
    assert (args.gamma, args.kappa, args.direction, args.max_steps) == (2.0, 0.5, "up", 2)
    assert saved is None or saved["gamma"] == 2.0
