"""A real pretrained model: SmolLM2-135M-Instruct from its GGUF file (scripts/fetch-smollm2.sh).

Loads the file as a plain trainable model, renders a conversational pair through its chat
template, checks reference log-probs against TRL's own DPOTrainer precompute, trains two
LoRA steps with loss_type="capo", and generates greedy answers in three languages. Where the
file is missing the tests skip, naming the script; in CI (CI set) they fail instead, because
.ci/run fetches the file first.
"""

from __future__ import annotations

import copy
import os
from pathlib import Path

import pandas as pd
import pytest
import torch
from datasets import Dataset

from capo.errors import CapoError
from capo.trainer import CAPOConfig, CAPOTrainer
from capo_pipelines.data.messages import render_messages
from capo_pipelines.evaluation.generation import greedy_answers
from capo_pipelines.models.chat import MESSAGES, conversation_json, tokenize_example, trl_columns
from capo_pipelines.models.load import load_pretrained
from capo_pipelines.models.logps import reference_logps, tokenize_pairs
from tests.test_data_contradictions import EXPLICIT, IMPLICIT, assert_prompts_are_prefixes, ingest

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[1]
GGUF = Path(
    os.environ.get(
        "CAPO_SMOLLM2_GGUF", ROOT / ".cache/models/smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"
    )
)
# (language, question, chosen, rejected): the questions the pipeline's benchmark asks, in kind
QUESTIONS = [
    ("en", "What is the capital of France?", "Paris.", "Lyon."),
    ("fr", "Quelle est la capitale de l'Allemagne ?", "Berlin.", "Munich."),
    ("de", "Welcher Tag kommt nach Montag?", "Dienstag.", "Sonntag."),
    ("ru", "Какой месяц идёт после января?", "Февраль.", "Март."),
]


@pytest.fixture(scope="module")
def smollm2():
    if not GGUF.is_file():
        message = f"{GGUF} is missing: run `bash scripts/fetch-smollm2.sh` (PyPI, 93 MB)"
        if os.environ.get("CI"):
            pytest.fail(f"CI must run the real-model tests: {message}")
        pytest.skip(message)
    return load_pretrained(str(GGUF))


def conversations() -> pd.DataFrame:
    """QUESTIONS as conversational pairs; the last one has a system turn."""
    rows = []
    for i, (lang, question, chosen, rejected) in enumerate(QUESTIONS):
        prompt = [{"role": "user", "content": question}]
        if i == len(QUESTIONS) - 1:
            prompt.insert(0, {"role": "system", "content": "Answer with one word."})
        answers = {
            "chosen": [{"role": "assistant", "content": chosen}],
            "rejected": [{"role": "assistant", "content": rejected}],
        }
        rows.append(
            {
                "id": f"p{i}",
                "language": lang,
                "prompt": render_messages(prompt),
                "chosen": chosen,
                "rejected": rejected,
                MESSAGES: conversation_json(prompt=prompt, **answers),
            }
        )
    return pd.DataFrame(rows)


def test_gguf_loads_as_a_plain_trainable_model(smollm2, tmp_path):
    model, tokenizer = smollm2
    assert not hasattr(model.config, "quantization_config")
    assert getattr(model, "hf_quantizer", None) is None
    assert 130e6 < sum(p.numel() for p in model.parameters()) < 140e6
    assert all(p.dtype == torch.float32 for p in model.parameters())
    assert tokenizer.eos_token == "<|im_end|>" and "<|im_start|>" in tokenizer.chat_template
    model.save_pretrained(tmp_path)  # refused while quantization_config is on the model
    tokenizer.save_pretrained(tmp_path)
    assert (tmp_path / "model.safetensors").is_file()
    _, again = load_pretrained(str(tmp_path))
    assert again.chat_template == tokenizer.chat_template
    with pytest.raises(CapoError, match="fetch-smollm2"):
        load_pretrained(str(tmp_path / "missing.gguf"))


def test_conversational_pair_renders_through_the_chat_template(smollm2):
    _, tokenizer = smollm2
    example = {
        "prompt": [{"role": "user", "content": "What is the capital of France?"}],
        "chosen": [{"role": "assistant", "content": "Paris."}],
        "rejected": [{"role": "assistant", "content": "Lyon."}],
    }
    ids = tokenize_example(tokenizer, example)
    prompt = tokenizer.decode(ids["prompt_ids"])
    assert prompt.startswith("<|im_start|>system\n")  # the template's default system turn
    assert prompt.endswith("<|im_start|>user\nWhat is the capital of France?<|im_end|>\n"
                           "<|im_start|>assistant\n")  # fmt: skip
    assert tokenizer.decode(ids["chosen_ids"]) == "Paris.<|im_end|>\n"
    assert tokenizer.decode(ids["rejected_ids"]) == "Lyon.<|im_end|>\n"


def test_every_accepted_conversation_renders_its_prompt_as_a_prefix(smollm2, tmp_path):
    _, tokenizer = smollm2
    for name, table in (("explicit", EXPLICIT), ("implicit", IMPLICIT)):
        _, accepted, _ = ingest(tmp_path / name, [r for r, _ in table], chat_format="messages")
        assert assert_prompts_are_prefixes(tokenizer, accepted) == len(accepted) > 0


def test_reference_logps_equal_trl_precompute(smollm2, tmp_path):
    model, tokenizer = smollm2
    pairs = conversations()
    ours = reference_logps(model, tokenizer, pairs, batch_size=2, max_length=128)
    args = CAPOConfig(
        output_dir=str(tmp_path),
        loss_type=["sigmoid"],
        precompute_ref_log_probs=True,
        precompute_ref_batch_size=2,
        max_length=128,
        use_cpu=not torch.cuda.is_available(),
        bf16=False,  # TRL's default is bf16; these compare fp32 numbers
        gradient_checkpointing=False,
        report_to="none",
        disable_tqdm=True,
    )
    data = Dataset.from_dict(trl_columns(pairs))
    trl = CAPOTrainer(
        copy.deepcopy(model), args=args, train_dataset=data, processing_class=tokenizer
    )
    # Both sum float32 token log-probs of about 20 nats, padded differently (TRL concatenates
    # chosen and rejected in one batch): they differ by 5e-5 to 1.2e-4 depending on the CPU's
    # kernels (6e-6 relative, seen on two machines). A wrong token or mask moves a sum by 1e-2 or
    # more, so a relative 2e-5 on top of 1e-4 still catches every real mistake.
    for col in ("ref_chosen_logps", "ref_rejected_logps"):
        expected = torch.tensor(trl.train_dataset[col], dtype=torch.float64)
        got = torch.tensor(ours[col].to_numpy())
        torch.testing.assert_close(got, expected, atol=1e-4, rtol=2e-5)
    assert (ours["ref_chosen_logps"] > ours["ref_rejected_logps"]).sum() >= 2  # it knows some


def test_two_lora_steps_with_the_capo_loss(smollm2, tmp_path):
    from peft import LoraConfig

    model, tokenizer = smollm2
    pairs = conversations()
    ref = reference_logps(model, tokenizer, pairs, batch_size=4, max_length=128)
    data = Dataset.from_dict(
        {
            **trl_columns(pairs),
            **{c: ref[c].tolist() for c in ("ref_chosen_logps", "ref_rejected_logps")},
        }
    )
    args = CAPOConfig(
        output_dir=str(tmp_path),
        loss_type=["capo"],
        max_steps=2,
        per_device_train_batch_size=4,
        learning_rate=1e-3,
        max_length=128,
        logging_steps=1,
        save_strategy="no",
        use_cpu=not torch.cuda.is_available(),
        bf16=False,  # TRL's default is bf16; these compare fp32 numbers
        gradient_checkpointing=False,
        report_to="none",
        disable_tqdm=True,
    )
    lora = LoraConfig(
        r=8, lora_alpha=16, target_modules=["q_proj", "v_proj"], task_type="CAUSAL_LM"
    )
    trainer = CAPOTrainer(
        copy.deepcopy(model), args=args, train_dataset=data, processing_class=tokenizer,
        peft_config=lora,
    )  # fmt: skip
    before = {n: p.detach().clone() for n, p in trainer.model.named_parameters() if p.requires_grad}
    trainer.train()
    logs = [h for h in trainer.state.log_history if "loss" in h]
    assert len(logs) == 2 and all(torch.isfinite(torch.tensor(h["loss"])) for h in logs)
    assert all("capo/weight_mean" in h for h in logs)
    trained = dict(trainer.model.named_parameters())
    assert all("lora_" in n for n in before)
    assert any(not torch.equal(before[n], trained[n]) for n in before if "lora_B" in n)


def test_greedy_answers_in_three_languages(smollm2):
    model, tokenizer = smollm2
    pairs = conversations().iloc[:3]
    assert pairs["language"].tolist() == ["en", "fr", "de"]
    from capo_pipelines.models.chat import prompts

    answers = greedy_answers(model, tokenizer, prompts(pairs), batch_size=3, max_new_tokens=12)
    assert all(a.strip() for a in answers), answers
    assert "Paris" in answers[0]
    examples = tokenize_pairs(tokenizer, pairs)
    assert all(e["prompt_ids"][-3:] == examples[0]["prompt_ids"][-3:] for e in examples)
