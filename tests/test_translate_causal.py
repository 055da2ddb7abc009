"""Translation with a causal instruct model built in the test: its chat template and a fixed
instruction, batches, the cache, conversations translated turn by turn, the language gate."""

from __future__ import annotations

import json

import pyarrow.parquet as pq
import pytest
import torch
from tokenizers import Tokenizer, models, pre_tokenizers
from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

from capo_pipelines.data import run_ingest
from capo_pipelines.data.translate import Translator
from capo_pipelines.data.translate_causal import INSTRUCTION_ID, is_causal
from capo_pipelines.models.tiny import CHAT_TEMPLATE
from capo_pipelines.params import BenchmarkParams, IngestParams, SourceParams, TranslationParams
from tests.test_data_translate import ENGLISH, GERMAN, build_model

SPECIAL = ["<|pad|>", "<|eos|>", "<unk>", "<|user|>", "<|assistant|>", "<|system|>"]
INSTRUCTION_WORDS = (
    "Translate following text from English to German Russian . Reply with translation only"
)


@pytest.fixture(scope="module")
def causal(tmp_path_factory) -> str:
    """A random tiny Llama whose tokenizer has a chat template; it can only write German."""
    path = tmp_path_factory.mktemp("causal")
    words = dict.fromkeys(SPECIAL + INSTRUCTION_WORDS.split() + ENGLISH + GERMAN)
    vocab = {w: i for i, w in enumerate(words)}
    tok = Tokenizer(models.WordLevel(vocab, unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.Whitespace()
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tok, eos_token="<|eos|>", pad_token="<|pad|>", unk_token="<unk>",
        additional_special_tokens=SPECIAL[3:],
    )  # fmt: skip
    fast.chat_template = CHAT_TEMPLATE
    torch.manual_seed(0)
    config = LlamaConfig(
        vocab_size=len(vocab), hidden_size=32, intermediate_size=64, num_hidden_layers=1,
        num_attention_heads=2, num_key_value_heads=2, max_position_embeddings=256,
        eos_token_id=1, pad_token_id=0, bos_token_id=None, initializer_range=1.0,
    )  # fmt: skip
    model = LlamaForCausalLM(config)
    allowed = {vocab[w] for w in GERMAN} | {1}
    model.generation_config.suppress_tokens = [i for i in range(len(vocab)) if i not in allowed]
    model.generation_config.min_new_tokens = 2
    model.generation_config.no_repeat_ngram_size = 1
    model.save_pretrained(path)
    fast.save_pretrained(path)
    return str(path)


def spy(translator: Translator, name: str, texts: list[str]) -> tuple[list[str], list[str]]:
    """Translate ``texts`` to German, recording the decoded prompt of every generate call."""
    out = translator.translate(texts[:1], "en", "de")  # loads the model
    loaded = translator._loaded[2]
    prompts: list[str] = []
    original = loaded.model.generate

    def generate(**kwargs):
        prompts.extend(
            loaded.tokenizer.batch_decode(kwargs["input_ids"], skip_special_tokens=False)
        )
        return original(**kwargs)

    loaded.model.generate = generate
    return out + translator.translate(texts[1:], "en", "de"), prompts


def test_batches_instruction_and_cache(tmp_path, causal):
    params = TranslationParams(
        model=causal, batch_size=3, max_new_tokens=6, cache_dir=str(tmp_path)
    )
    tr = Translator(params)
    texts = [f"which day comes after {w}" for w in ENGLISH[:8]]
    out, prompts = spy(tr, causal, texts)
    assert len(out) == 8 and all(o and set(o.split()) <= set(GERMAN) for o in out)
    assert len(prompts) == 7 and tr.stats["batches"] == 1 + 3  # 1, then 7 in batches of 3
    last = [p.replace("<|pad|>", "").strip() for p in prompts]
    # "<|user|> Translate <unk> following text from English to German . Reply ... <|assistant|>"
    assert all(p.startswith("<|user|> Translate") and p.endswith("<|assistant|>") for p in last)
    assert all("from English to German" in p and "which day comes after" in p for p in last)
    again = Translator(params)
    assert again.translate(texts, "en", "de") == out and again.stats["cached"] == 8
    assert again._loaded is None  # nothing loaded: every text came from the cache
    assert any(INSTRUCTION_ID in p.name for p in tmp_path.glob("*.sqlite"))


def test_kind_of_model(tmp_path, causal):
    build_model(tmp_path / "m2m", "m2m", ["__en__", "__de__"])
    assert is_causal(causal) and not is_causal(str(tmp_path / "m2m"))
    assert is_causal(str(tmp_path / "missing.gguf"))  # by its suffix, before loading


def test_conversations_translated_turn_by_turn_and_gated(tmp_path, causal):
    rows = [
        {
            "prompt": [
                {"role": "system", "content": "the month"},
                {"role": "user", "content": f"which day comes after {a}"},
            ],
            "chosen": [{"role": "assistant", "content": b}],
            "rejected": [{"role": "assistant", "content": c}],
        }
        for a, b, c in [("monday", "tuesday", "friday"), ("friday", "the", "sunday"),
                        ("sunday", "monday", "a")]
    ]  # fmt: skip
    src = tmp_path / "en.jsonl"
    src.write_text("".join(json.dumps(r) + "\n" for r in rows))
    translation = TranslationParams(
        model=causal, targets=("de", "ru"), max_new_tokens=6, cache_dir=str(tmp_path / "c")
    )
    params = IngestParams(
        benchmark=BenchmarkParams(enabled=False),
        sources=(SourceParams(name="en", path=str(src), language="en", translate=True),),
        translation=translation,
    )
    report = run_ingest(params, seed=0, out_dir=tmp_path / "out")
    tables = [pq.read_table(tmp_path / f"out/{s}.parquet") for s in ("train", "test")]
    german = [r for t in tables for r in t.to_pylist() if r["source"] == "en->de"]
    assert german and report["sources"]["en->de"]["reasons"].keys() <= {"chosen_equals_rejected"}
    for pair in german:
        conv = json.loads(pair["messages"])
        assert [m["role"] for m in conv["prompt"]] == ["system", "user"]
        assert [m["role"] for m in conv["chosen"]] == ["assistant"]
        words = {w for part in conv.values() for m in part for w in m["content"].split()}
        assert words <= set(GERMAN)
        assert pair["prompt"] == "\n".join(f"{m['role']}: {m['content']}" for m in conv["prompt"])
    assert report["sources"]["en->ru"]["reasons"] == {"wrong_language": 3}
    assert report["accepted"] + report["quarantined"] == report["read"] == 9
