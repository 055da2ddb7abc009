"""Translation with a tiny seq2seq model built in the test: batching, cache, language codes,
wrong-language rejection, and translated pairs in the ingest outputs. No network."""

from __future__ import annotations

import json

import pyarrow.parquet as pq
import pytest
import torch
from tokenizers import Tokenizer, models, pre_tokenizers, processors
from transformers import (
    M2M100Config,
    M2M100ForConditionalGeneration,
    MarianConfig,
    MarianMTModel,
    PreTrainedTokenizerFast,
)

from capo.errors import CapoError
from capo_pipelines.data import run_ingest
from capo_pipelines.data.translate import Translator, language_token
from capo_pipelines.params import BenchmarkParams, IngestParams, SourceParams, TranslationParams

SPECIAL = ["<s>", "<pad>", "</s>", "<unk>"]
ENGLISH = [
    "which",
    "day",
    "comes",
    "after",
    "before",
    "monday",
    "friday",
    "the",
    "is",
    "a",
    "tuesday",
    "sunday",
    "month",
]
# The model may only emit these words, so its output is German whatever the weights are.
GERMAN = [
    "Straße",
    "Mädchen",
    "schön",
    "über",
    "Bäume",
    "grün",
    "fröhlich",
    "Brötchen",
    "Häuser",
    "müssen",
    "würde",
]


def build_model(path, family: str, lang_tokens: list[str]) -> None:
    """Save a random-weight translation model and a word-level tokenizer under ``path``."""
    vocab = {t: i for i, t in enumerate(SPECIAL + lang_tokens + ENGLISH + GERMAN)}
    tok = Tokenizer(models.WordLevel(vocab, unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    tok.post_processor = processors.TemplateProcessing(
        single="$A </s>", special_tokens=[("</s>", 2)]
    )
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tok, bos_token="<s>", pad_token="<pad>", eos_token="</s>",
        unk_token="<unk>", additional_special_tokens=lang_tokens,
    )  # fmt: skip
    dims = {"d_model": 16, "encoder_layers": 1, "decoder_layers": 1, "encoder_ffn_dim": 32,
            "decoder_ffn_dim": 32, "encoder_attention_heads": 2, "decoder_attention_heads": 2,
            "max_position_embeddings": 64, "vocab_size": len(vocab), "pad_token_id": 1,
            "bos_token_id": 0, "eos_token_id": 2, "decoder_start_token_id": 2,
            "forced_eos_token_id": 2, "init_std": 1.0}  # fmt: skip
    # init_std 1.0: weights large enough that the output depends on the input
    torch.manual_seed(0)
    if family == "m2m":
        model = M2M100ForConditionalGeneration(M2M100Config(**dims))
    else:
        model = MarianMTModel(MarianConfig(**dims))
    allowed = {vocab[w] for w in GERMAN} | {2} | {vocab[t] for t in lang_tokens}
    model.generation_config.suppress_tokens = [i for i in range(len(vocab)) if i not in allowed]
    model.generation_config.min_new_tokens = 5
    model.generation_config.no_repeat_ngram_size = 1
    model.save_pretrained(path)
    fast.save_pretrained(path)


@pytest.fixture(scope="module")
def m2m(tmp_path_factory):
    path = tmp_path_factory.mktemp("m2m")
    build_model(path, "m2m", ["__en__", "__de__", "__ru__"])
    return str(path)


def spy_generate(translator: Translator, name: str) -> list[dict]:
    calls: list[dict] = []
    _, model = translator._load(name)
    original = model.generate

    def generate(**kwargs):
        calls.append(kwargs)
        return original(**kwargs)

    model.generate = generate
    return calls


def test_batches_cache_and_language_codes(tmp_path, m2m):
    params = TranslationParams(model=m2m, batch_size=4, max_new_tokens=8, cache_dir=str(tmp_path))
    tr = Translator(params)
    calls = spy_generate(tr, m2m)
    texts = [f"which day comes after {w}" for w in ENGLISH[:10]]
    out = tr.translate(texts + texts[:3], "en", "de")  # repeats are translated once
    assert len(out) == 13 and out[10:] == out[:3]
    assert [c["input_ids"].shape[0] for c in calls] == [4, 4, 2]
    de_id = tr._load(m2m)[0].convert_tokens_to_ids("__de__")
    assert {c["forced_bos_token_id"] for c in calls} == {de_id}
    assert all(set(o.split()) <= set(GERMAN) and o for o in out)
    again = Translator(params)
    calls_again = spy_generate(again, m2m)
    assert again.translate(texts, "en", "de") == out[:10] and not calls_again  # all cached
    assert again.translate([*texts, "the month is friday"], "en", "de")[:10] == out[:10]
    assert [c["input_ids"].shape[0] for c in calls_again] == [1]  # only the new text
    assert again.stats["cached"] == 20 and again.stats["translated"] == 1


def test_language_token_mapping(m2m, tmp_path):
    tokenizer = Translator(TranslationParams(model=m2m, cache_dir=str(tmp_path)))._load(m2m)[0]
    assert language_token(tokenizer, "de") == "__de__"
    with pytest.raises(CapoError, match=r"no language token for 'hi'.*hin_Deva.*__hi__"):
        language_token(tokenizer, "hi")

    class Nllb:
        def get_vocab(self):
            return {"deu_Latn": 5, "__de__": 6, "zho_Hans": 7}

    assert language_token(Nllb(), "de") == "deu_Latn" and language_token(Nllb(), "zh") == "zho_Hans"


def test_missing_model_is_a_clear_error(tmp_path):
    tr = Translator(TranslationParams(model=str(tmp_path / "nope"), cache_dir=str(tmp_path)))
    with pytest.raises(CapoError, match=r"ingest\.translation\.model .*nope.*cannot load"):
        tr.translate(["hello"], "en", "de")


def test_ingest_translates_and_quarantines_wrong_language(tmp_path, m2m):
    rows = [
        {"prompt": f"which day comes after {a}", "chosen": b, "rejected": c}
        for a, b, c in [("monday", "tuesday", "friday"), ("friday", "the", "sunday"),
                        ("sunday", "monday", "a"), ("tuesday", "month", "is")]
    ]  # fmt: skip
    src = tmp_path / "en.jsonl"
    src.write_text("".join(json.dumps(r) + "\n" for r in rows))
    translation = TranslationParams(
        model=m2m,
        targets=("de", "ru"),
        batch_size=5,
        max_new_tokens=6,
        cache_dir=str(tmp_path / "c"),
    )
    params = IngestParams(
        benchmark=BenchmarkParams(enabled=False),
        sources=(SourceParams(name="en", path=str(src), language="en", translate=True),),
        translation=translation,
        test_fraction=0.5,
    )
    report = run_ingest(params, seed=0, out_dir=tmp_path / "out")
    out = tmp_path / "out"
    pairs = (
        pq.read_table(out / "train.parquet").to_pylist()
        + pq.read_table(out / "test.parquet").to_pylist()
    )
    originals = {r["id"]: r for r in pairs if r["source"] == "en"}
    german = [r for r in pairs if r["source"] == "en->de"]
    assert len(originals) == 4 and len(german) >= 3  # random weights may map two texts alike
    assert report["sources"]["en->de"]["reasons"].keys() <= {"chosen_equals_rejected"}
    for r in german:  # the model can only write German: all kept, split of the original
        assert r["language"] == "de" and r["split"] == originals[r["translated_from"]]["split"]
    assert report["sources"]["en->ru"] == {
        "read": 4, "accepted": 0, "quarantined": 4, "reasons": {"wrong_language": 4},
        "languages": {"ru": {"quarantined": 4, "test": 0, "train": 0}},
        "translated_from": "en", "model": m2m,
    }  # fmt: skip
    quarantine = pq.read_table(out / "quarantine.parquet").to_pylist()
    wrong = [q for q in quarantine if q["source"] == "en->ru"]
    assert {q["row"] for q in wrong} == {1, 2, 3, 4}
    assert {q["language"] for q in wrong} == {"ru"}  # the language it was meant to be in
    assert all(q["reason"] == "translation detected as de, expected ru" for q in wrong)
    assert report["accepted"] + report["quarantined"] == report["read"] == 12


def test_marian_per_pair_model_name(tmp_path):
    build_model(tmp_path / "opus-en-de", "marian", [])
    params = TranslationParams(
        model=str(tmp_path / "opus-{src}-{tgt}"), max_new_tokens=8, cache_dir=str(tmp_path / "c")
    )
    tr = Translator(params)
    out = tr.translate(["which day comes after monday"], "en", "de")
    assert out[0] and set(out[0].split()) <= set(GERMAN)
    with pytest.raises(CapoError, match="opus-en-ru"):
        tr.translate(["which day"], "en", "ru")


def test_a_translation_lingua_places_in_the_target_but_mostly_in_latin_names_the_script():
    """SmolLM2 wrote 'Марьера. Translate the following text to Russian: ...' into Russian:
    lingua's top language was ru, the script check failed; the reason must say which."""
    from capo_pipelines.data.ingestion import _wrong_language

    texts = ["Марьера.", "Translate the following text to Russian, and say it in English", "Да"]
    reason = _wrong_language(texts, "ru", "ru")
    assert reason == "translation not in ru: under half its letters are in ru's script"
    assert _wrong_language(["Hallo Welt"], "ru", "de") == "translation detected as de, expected ru"
