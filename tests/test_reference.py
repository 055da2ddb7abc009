"""Reference log-probs: equal to TRL's DPOTrainer precompute, order-preserving, clean errors."""

from __future__ import annotations

import hashlib

import pandas as pd
import pytest
import torch
from datasets import Dataset
from trl import DPOConfig, DPOTrainer

from capo.errors import CapoError
from capo_pipelines.data.contract import read_table
from capo_pipelines.models.logps import reference_logps, tokenize_pairs

# (language, prompt, chosen, rejected): several scripts, combining marks, very uneven lengths.
ITEMS = [
    ("en", "What comes after Monday?", " Tuesday", " Sunday"),
    ("de", "Schreibe 7 in Worten.", " sieben", " sechs und noch viel mehr Text dazu"),
    ("hi", "किस देश का कोड IN है?", " भारत", " पाकिस्तान"),
    ("zh", "一月之后是几月？", "二月", "三月份之后的很多个月"),
    ("ar", "ما هي عاصمة مصر؟", " القاهرة", " الإسكندرية"),
    ("ru", "Как будет 12 словами?", " двенадцать", " одиннадцать"),
    ("ja", "月曜日の次は何曜日ですか？", "火曜日", "日曜日"),
    ("es", "¿Qué mes va después de agosto?", " septiembre", " mayo"),
]


def pairs_frame(n: int = 16, scored: bool = True) -> pd.DataFrame:
    """n multilingual pairs with unique ids, nullable scores and a label_flipped column."""
    rows = []
    for i in range(n):
        lang, prompt, chosen, rejected = ITEMS[i % len(ITEMS)]
        prompt = f"{prompt} ({i})" if i >= len(ITEMS) else prompt
        key = f"{lang}|{prompt}|{chosen}|{rejected}".encode()
        has_scores = scored and i % 5 != 4
        rows.append(
            {
                "id": hashlib.sha256(key).hexdigest()[:16],
                "language": lang,
                "prompt": prompt,
                "chosen": chosen,
                "rejected": rejected,
                "score_chosen": 8.0 + (i % 3) if has_scores else None,
                "score_rejected": 3.0 + (i % 4) if has_scores else None,
                "label_flipped": i % 7 == 3,
                "split": "train",
            }
        )
    return pd.DataFrame(rows)


def _trl_precomputed(tmp_path, model, tokenizer, dataset: Dataset, max_length: int) -> Dataset:
    args = DPOConfig(
        output_dir=str(tmp_path),
        precompute_ref_log_probs=True,
        precompute_ref_batch_size=4,
        max_length=max_length,
        bf16=False,
        activation_checkpointing=False,
        use_cpu=True,
        report_to="none",
        disable_tqdm=True,
    )
    trainer = DPOTrainer(model, args=args, train_dataset=dataset, processing_class=tokenizer)
    return trainer.train_dataset


def test_equals_trl_dpo_precomputed_reference(tmp_path, make_tiny_model, tiny_tokenizer):
    """Same tokenisation, truncation and sums as DPOTrainer(precompute_ref_log_probs=True)."""
    pairs = pairs_frame(12)
    # TRL drops pairs whose prompt fills max_length; just above the longest prompt truncates
    # the longer completions
    max_length = max(len(e["prompt_ids"]) for e in tokenize_pairs(tiny_tokenizer, pairs)) + 3
    ours = reference_logps(
        make_tiny_model(), tiny_tokenizer, pairs, batch_size=5, max_length=max_length
    )
    dataset = Dataset.from_pandas(pairs[["prompt", "chosen", "rejected"]])
    trl = _trl_precomputed(tmp_path, make_tiny_model(), tiny_tokenizer, dataset, max_length)
    assert len(trl) == len(pairs)
    assert (ours["chosen_tokens"] + ours["prompt_tokens"] == max_length).any()
    for col in ("ref_chosen_logps", "ref_rejected_logps"):
        expected = torch.tensor(trl[col], dtype=torch.float64)
        torch.testing.assert_close(torch.tensor(ours[col].to_numpy()), expected, atol=1e-4, rtol=0)
    assert ours["id"].tolist() == pairs["id"].tolist()
    assert (ours["ref_chosen_logps"] != ours["ref_rejected_logps"]).sum() > len(pairs) // 2


def conversational_frame(n: int = 10) -> pd.DataFrame:
    """``pairs_frame`` as conversations: some with a system turn, some with an earlier exchange."""
    from capo_pipelines.data.messages import render_messages
    from capo_pipelines.models.chat import MESSAGES, conversation_json

    frame = pairs_frame(n)
    convs = []
    for i, row in frame.iterrows():
        prompt = [{"role": "user", "content": row["prompt"]}]
        if i % 3 == 1:
            prompt.insert(0, {"role": "system", "content": "Answer in one word."})
        if i % 3 == 2:
            prompt[:0] = [
                {"role": "user", "content": "Hi"},
                {"role": "assistant", "content": "Hi!"},
            ]
        chosen = [{"role": "assistant", "content": row["chosen"].strip()}]
        rejected = [{"role": "assistant", "content": row["rejected"].strip()}]
        convs.append(conversation_json(prompt=prompt, chosen=chosen, rejected=rejected))
        frame.loc[i, "prompt"] = render_messages(prompt)
    frame[MESSAGES] = convs
    return frame


def test_conversations_equal_trl_dpo_precomputed_reference(
    tmp_path, make_tiny_model, tiny_tokenizer
):
    """Messages go through the chat template exactly as DPOTrainer does with message lists."""
    from capo_pipelines.models.chat import trl_columns

    pairs = conversational_frame(10)
    examples = tokenize_pairs(tiny_tokenizer, pairs)
    assistant = tiny_tokenizer.convert_tokens_to_ids("<|assistant|>")
    assert all(assistant in e["prompt_ids"] for e in examples)  # the template was applied
    max_length = max(len(e["prompt_ids"]) for e in examples) + 2
    ours = reference_logps(
        make_tiny_model(), tiny_tokenizer, pairs, batch_size=3, max_length=max_length
    )
    dataset = Dataset.from_dict(trl_columns(pairs))
    trl = _trl_precomputed(tmp_path, make_tiny_model(), tiny_tokenizer, dataset, max_length)
    assert len(trl) == len(pairs)
    assert trl["prompt_ids"] == [e["prompt_ids"] for e in examples]
    for col in ("ref_chosen_logps", "ref_rejected_logps"):
        expected = torch.tensor(trl[col], dtype=torch.float64)
        torch.testing.assert_close(torch.tensor(ours[col].to_numpy()), expected, atol=1e-4, rtol=0)
    text_only = pairs.drop(columns="messages")  # what the old code saw: the rendered text
    plain = reference_logps(make_tiny_model(), tiny_tokenizer, text_only, max_length=max_length)
    assert not plain["ref_chosen_logps"].equals(ours["ref_chosen_logps"])


def test_bucketing_keeps_the_input_order(make_tiny_model, tiny_tokenizer):
    pairs = pairs_frame(13).sample(frac=1.0, random_state=0).reset_index(drop=True)
    model = make_tiny_model()
    bucketed = reference_logps(model, tiny_tokenizer, pairs, batch_size=4, bucket=True)
    in_order = reference_logps(model, tiny_tokenizer, pairs, batch_size=4, bucket=False)
    one_by_one = reference_logps(model, tiny_tokenizer, pairs, batch_size=1)
    for other in (in_order, one_by_one):
        assert other["id"].tolist() == bucketed["id"].tolist()
        for col in ("ref_chosen_logps", "ref_rejected_logps"):
            torch.testing.assert_close(
                torch.tensor(bucketed[col].to_numpy()), torch.tensor(other[col].to_numpy())
            )


def test_token_counts_follow_trl_tokenisation(tiny_tokenizer):
    pairs = pairs_frame(8)
    examples = tokenize_pairs(tiny_tokenizer, pairs)
    eos = tiny_tokenizer.eos_token_id
    for example, (_, row) in zip(examples, pairs.iterrows(), strict=True):
        assert example["chosen_ids"][-1] == eos and example["rejected_ids"][-1] == eos
        full = tiny_tokenizer(text=row["prompt"] + row["chosen"] + tiny_tokenizer.eos_token)
        assert example["prompt_ids"] + example["chosen_ids"] == full["input_ids"]


def test_bad_input_is_a_capo_error(tmp_path, make_tiny_model, tiny_tokenizer):
    pairs = pairs_frame(4)
    twice = pd.concat([pairs, pairs.iloc[[1]]], ignore_index=True)
    with pytest.raises(CapoError, match=f"duplicate pair id '{pairs['id'][1]}'"):
        reference_logps(make_tiny_model(), tiny_tokenizer, twice)
    with pytest.raises(CapoError, match=r"lack columns \['rejected'\]"):
        reference_logps(make_tiny_model(), tiny_tokenizer, pairs.drop(columns="rejected"))
    with pytest.raises(CapoError, match=r"nowhere\.parquet: no such file"):
        read_table(tmp_path / "nowhere.parquet")
    pairs.drop(columns="id").to_parquet(tmp_path / "p.parquet")
    with pytest.raises(CapoError, match=r"p.parquet: missing columns \['id'\]"):
        read_table(tmp_path / "p.parquet", {"id", "prompt"})


def test_reference_stage_writes_one_table_per_split(tmp_path, make_tiny_model, tiny_tokenizer):
    from capo_pipelines.reference import main

    policy = tmp_path / "policy"
    make_tiny_model().save_pretrained(policy)
    tiny_tokenizer.save_pretrained(policy)
    pairs = tmp_path / "pairs"
    pairs.mkdir()
    for split, n in (("train", 10), ("test", 4)):
        pairs_frame(n).to_parquet(pairs / f"{split}.parquet")
    (tmp_path / "params.yaml").write_text("reference: {batch_size: 3}\npolicy: {max_length: 64}\n")
    out = tmp_path / "reference"
    args = ["--params", str(tmp_path / "params.yaml"), "--policy", str(policy)]
    main([*args, "--pairs", str(pairs), "--out", str(out)])
    for split, n in (("train", 10), ("test", 4)):
        table = pd.read_parquet(out / f"{split}.parquet")
        assert table["id"].tolist() == pairs_frame(n)["id"].tolist()
        assert table["ref_chosen_logps"].lt(0).all() and table["chosen_tokens"].gt(0).all()
