"""Conversations stay conversations: ingest keeps the messages, and SFT, training, pair
weights and generation render them through the chat template exactly as TRL does."""

from __future__ import annotations

import json

import pandas as pd
import pyarrow.parquet as pq
import pytest

from capo.errors import CapoError
from capo.trainer import CAPOConfig, CAPOTrainer
from capo_pipelines.data import run_ingest
from capo_pipelines.evaluation.generation import greedy_answers
from capo_pipelines.models.chat import MESSAGES, pair_examples, prompt_ids, prompts, trl_columns
from capo_pipelines.models.logps import tokenize_pairs
from capo_pipelines.models.sft import build_builtin_policy, make_sft_trainer, sft_examples
from capo_pipelines.params import BenchmarkParams, IngestParams, PolicyParams, SourceParams
from tests.test_reference import conversational_frame, pairs_frame

TINY = dict(vocab_size=400, hidden_size=32, num_layers=1, num_heads=2, max_length=96)
SYSTEM = {"role": "system", "content": "Be brief."}
EXPLICIT = {
    "prompt": [SYSTEM, {"role": "user", "content": "Which day comes after Monday?"}],
    "chosen": [{"role": "assistant", "content": " Tuesday\r\n"}],
    "rejected": [{"role": "assistant", "content": "Sunday"}],
}
SHARED = [{"role": "user", "content": "Which month comes after May?"}]
IMPLICIT = {
    "chosen": [*SHARED, {"role": "assistant", "content": "June"}],
    "rejected": [*SHARED, {"role": "assistant", "content": "April"}],
}
PLAIN = {"prompt": "Which day comes before Friday?", "chosen": "Thursday", "rejected": "Monday"}


def _ingest(tmp_path, *files: list[dict], benchmark: bool = False, **kw) -> list[dict]:
    """Ingest each list of rows as its own JSONL source (English), optionally the benchmark."""
    sources = []
    for i, rows in enumerate(files):
        path = tmp_path / f"chat{i}.jsonl"
        path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
        sources.append(SourceParams(name=f"chat{i}", path=str(path), language="en"))
    bench = BenchmarkParams(enabled=benchmark, languages=("en", "de"), train_pairs=8, test_pairs=4)
    run_ingest(IngestParams(benchmark=bench, sources=tuple(sources), **kw), 0, tmp_path / "out")
    tables = [pq.read_table(tmp_path / f"out/{s}.parquet") for s in ("train", "test")]
    return [r for t in tables for r in t.to_pylist()]


def test_ingest_keeps_messages_with_their_roles(tmp_path):
    rows = {r["chosen"]: r for r in _ingest(tmp_path, [EXPLICIT], [IMPLICIT])}
    explicit, implicit = rows["Tuesday"], rows["June"]
    assert explicit["prompt"] == "system: Be brief.\nuser: Which day comes after Monday?"
    assert json.loads(explicit[MESSAGES]) == {
        "prompt": EXPLICIT["prompt"],
        "chosen": [{"role": "assistant", "content": "Tuesday"}],  # cleaned like the text
        "rejected": EXPLICIT["rejected"],
    }
    assert json.loads(implicit[MESSAGES]) == {
        "prompt": SHARED,
        "chosen": IMPLICIT["chosen"][1:],
        "rejected": IMPLICIT["rejected"][1:],
    }


@pytest.mark.parametrize(
    ("chat_format", "conversational"), [("auto", True), ("messages", True), ("text", False)]
)
def test_one_format_per_run(tmp_path, chat_format, conversational):
    """A plain row, a conversation and the benchmark: auto and messages make all of them
    conversations (a plain pair becomes one user and one assistant turn); text none."""
    rows = _ingest(tmp_path, [PLAIN, EXPLICIT], benchmark=True, chat_format=chat_format)
    assert {r["source"] for r in rows} == {"benchmark", "chat0"} and len(rows) > 10
    assert {r[MESSAGES] is not None for r in rows} == {conversational}
    plain = next(r for r in rows if r["chosen"] == "Thursday")
    if conversational:
        assert json.loads(plain[MESSAGES]) == {
            "prompt": [{"role": "user", "content": PLAIN["prompt"]}],
            "chosen": [{"role": "assistant", "content": "Thursday"}],
            "rejected": [{"role": "assistant", "content": "Monday"}],
        }
    assert plain["prompt"] == PLAIN["prompt"]  # the texts (ids, validation) never change


def test_plain_runs_stay_plain(tmp_path):
    rows = _ingest(tmp_path, [PLAIN], benchmark=True)
    assert all(r[MESSAGES] is None for r in rows)
    frame = pd.DataFrame(rows)
    assert trl_columns(frame)["prompt"] == frame["prompt"].tolist()


def test_a_mixed_frame_is_refused_for_training():
    mixed = pd.concat([conversational_frame(2), pairs_frame(2)], ignore_index=True)
    with pytest.raises(CapoError, match=r"mix plain text and conversations.*chat_format"):
        trl_columns(mixed, "train.parquet")


def test_training_tokenises_conversations_as_the_reference_does(
    tmp_path, make_tiny_model, tiny_tokenizer
):
    """The dataset the train stage hands TRL gives the token ids capo's reference uses."""
    from capo_pipelines.models.training import _dataset

    pairs = conversational_frame(6).assign(ref_chosen_logps=-1.0, ref_rejected_logps=-2.0)
    args = CAPOConfig(
        output_dir=str(tmp_path), max_length=128, use_cpu=True, report_to="none",
        disable_tqdm=True, bf16=False, gradient_checkpointing=False,
    )  # fmt: skip
    trainer = CAPOTrainer(
        make_tiny_model(), args=args, train_dataset=_dataset(pairs), processing_class=tiny_tokenizer
    )
    ours = tokenize_pairs(tiny_tokenizer, pairs)
    for key in ("prompt_ids", "chosen_ids", "rejected_ids"):
        assert trainer.train_dataset[key] == [e[key] for e in ours]


def test_sft_on_conversations_uses_the_chat_template(tmp_path):
    pairs = conversational_frame(6)
    demos = pd.DataFrame({"prompt": ["Say 1:", "Say 2:"], "completion": ["one", "two"]})
    params = PolicyParams(**TINY)
    examples = sft_examples(params, pairs, demos)  # plain demonstrations become turns
    assert json.loads(examples[MESSAGES][0]) == {
        "prompt": [{"role": "user", "content": "Say 1:"}],
        "completion": [{"role": "assistant", "content": "one"}],
    }
    texts = [*pairs["prompt"], *pairs["chosen"], "Say 1: one two"]
    model, tok = build_builtin_policy(params, texts, seed=0)
    trainer = make_sft_trainer(model, tok, examples, params, seed=0, output_dir=tmp_path)
    row = trainer.train_dataset[0]
    expected = tok.apply_chat_template(
        [{"role": "user", "content": "Say 1:"}, {"role": "assistant", "content": "one"}],
        tokenize=True,
        return_dict=True,
    )["input_ids"]
    assert row["input_ids"] == expected  # "<|user|>\nSay 1:\n<|assistant|>\none<|eos|>\n"
    prompt_len = len(prompt_ids(tok, [{"role": "user", "content": "Say 1:"}]))
    assert row["labels"] == [-100] * prompt_len + expected[prompt_len:]  # loss on the answer
    chosen = sft_examples(PolicyParams(**TINY, sft_data="chosen"), pairs, None)
    assert json.loads(chosen[MESSAGES][1])["prompt"][0] == {
        "role": "system",
        "content": "Answer in one word.",
    }


def test_generation_prompts_are_the_reference_prompts(make_tiny_model, tiny_tokenizer):
    pairs = conversational_frame(4)
    asked = prompts(pairs)
    assert asked == [e["prompt"] for e in pair_examples(pairs)] and isinstance(asked[0], list)
    assistant = tiny_tokenizer.convert_tokens_to_ids("<|assistant|>")
    for ids, e in zip(
        (prompt_ids(tiny_tokenizer, p) for p in asked),
        tokenize_pairs(tiny_tokenizer, pairs),
        strict=True,
    ):
        assert ids == e["prompt_ids"] and assistant in ids[-3:]
    answers = greedy_answers(
        make_tiny_model(), tiny_tokenizer, asked, batch_size=3, max_new_tokens=3
    )
    assert len(answers) == 4 and all(isinstance(a, str) for a in answers)
