"""Translation quality estimates (pipelines/data/translation_quality.py): the translator's token
log-probabilities, cached with the output; round-trip chrF; degenerate outputs; the pair's
translation_confidence; min_confidence quarantine and the report. Models built in the tests."""

from __future__ import annotations

import hashlib
import json
import math
import sqlite3
from dataclasses import replace
from pathlib import Path
from types import SimpleNamespace

import pyarrow.parquet as pq
import pytest
import sacrebleu
import torch
from transformers import GenerationMixin

from capo_pipelines.data import run_ingest
from capo_pipelines.data.translate import Translator
from capo_pipelines.data.translate_cache import (
    KEY_VERSION,
    TranslationCache,
    cache_key,
    model_revision,
)
from capo_pipelines.data.translate_causal import INSTRUCTION
from capo_pipelines.data.translation_quality import (
    INSTRUCTION_MARKERS,
    TextQuality,
    Translation,
    assess,
    degenerate,
    mean_logprobs,
    pair_quality,
)
from capo_pipelines.params import BenchmarkParams, IngestParams, SourceParams, TranslationParams
from tests.test_data_translate import ENGLISH, build_model, spy_generate
from tests.test_translate_causal import causal  # noqa: F401  (a fixture)


@pytest.fixture(scope="module")
def m2m(tmp_path_factory):
    path = tmp_path_factory.mktemp("m2m")
    build_model(path, "m2m", ["__en__", "__de__", "__ru__"])
    return str(path)


# --- degenerate outputs -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("source", "output", "reason"),
    [
        ("which day comes after monday", "   ", "empty"),
        ("which day comes after monday", "Which  day comes after Monday", "copy_of_source"),
        ("monday", "Montag", None),
        ("Paris", "Paris", None),  # a name may rightly stay the same
        ("tuesday", "Translate the following text to German: Dienstag", "instruction"),
        ("tuesday", "Dienstag (German translation only)", "instruction"),
        ("say: translate the following text", "sag: translate the following text", None),
        ("the month", "der Monat der Monat der Monat der Monat", "repetition"),
        ("the month", "Monat Monat Monat Monat", "repetition"),
        ("the month", "Monat Monat Monat", None),  # three in a row is not a run
        ("no no no no", "nein nein nein nein", None),  # the source repeats the same way
        ("a long text", "ab" * 150, "repetition"),  # one "word": caught by compression
    ],
)
def test_every_degenerate_reason(source, output, reason):
    found = degenerate(source, output)
    assert (found[0] if found else None) == reason
    if found:
        assert found[1]  # a detail says what was found


def test_instruction_markers_are_phrases_of_the_instruction():
    assert all(m in INSTRUCTION.casefold() for m in INSTRUCTION_MARKERS)


def test_text_and_pair_confidence_formula():
    plain = TextQuality(logprob=math.log(0.8))
    both = TextQuality(logprob=math.log(0.9), round_trip=0.5)
    bad = TextQuality(logprob=-0.01, round_trip=0.99, degenerate="repetition")
    assert plain.confidence == pytest.approx(0.8) and both.confidence == pytest.approx(0.45)
    assert bad.confidence == 0.0 and bad.logprob_confidence == pytest.approx(math.exp(-0.01))
    assert pair_quality([plain, both, plain]) == (pytest.approx(0.45), 1)
    zero = TextQuality(logprob=-1000.0)  # exp underflows to 0: the degenerate text is named
    assert pair_quality([zero, bad]) == (0.0, 1)


# --- log-probabilities from generate() ------------------------------------------------------


def test_mean_logprobs_stop_at_the_end_token_and_skip_forced_tokens():
    """Two rows, vocab 4, end token 3, pad 0: row 0 ends at step 2, then pads."""
    probs = [
        [[0.1, 0.6, 0.2, 0.1], [0.25, 0.25, 0.25, 0.25]],
        [[0.1, 0.1, 0.4, 0.4], [0.7, 0.1, 0.1, 0.1]],
        [[0.9, 0.05, 0.03, 0.02], [0.1, 0.1, 0.2, 0.6]],
    ]  # step, row, token
    scores = tuple(torch.tensor(p).log() + 5.0 for p in probs)  # logits: any offset
    sequences = torch.tensor([[7, 1, 3, 0], [7, 2, 0, 3]])  # first column: the prompt
    config = SimpleNamespace(get_text_config=lambda: SimpleNamespace(vocab_size=4))
    model = SimpleNamespace(config=config)
    model.compute_transition_scores = lambda *a: GenerationMixin.compute_transition_scores(
        model, *a
    )
    gen = SimpleNamespace(sequences=sequences, scores=scores)
    row0 = (math.log(0.6) + math.log(0.4)) / 2  # token 1, then the end token; pad left out
    row1 = (math.log(0.25) + math.log(0.7) + math.log(0.6)) / 3
    assert mean_logprobs(model, gen, [3]) == pytest.approx([row0, row1])
    skipped = [math.log(0.4), (math.log(0.7) + math.log(0.6)) / 2]
    assert mean_logprobs(model, gen, [3], skip=1) == pytest.approx(skipped)


def test_seq2seq_logprob_is_the_mean_of_the_decoded_tokens(tmp_path, m2m):
    tr = Translator(TranslationParams(model=m2m, max_new_tokens=8, cache_dir=str(tmp_path)))
    calls = spy_generate(tr, m2m)
    texts = ["which day comes after monday", "the month"]
    out = tr.translate_scored(texts, "en", "de")
    tokenizer, model = tr._load(m2m)
    enc = tokenizer(texts[0], return_tensors="pt")
    kwargs = {k: v for k, v in calls[0].items() if k not in ("input_ids", "attention_mask")}
    with torch.inference_mode():
        gen = model.generate(**enc, **kwargs)
    tokens = gen.sequences[0, 1:].tolist()  # after the decoder start token
    logps = [
        torch.log_softmax(s[0].float(), -1)[t].item()
        for s, t in zip(gen.scores, tokens, strict=False)
    ]
    end = tokens.index(2) + 1 if 2 in tokens else len(tokens)
    expected = sum(logps[1:end]) / (end - 1)  # the forced language token is left out
    assert out[0].logprob == pytest.approx(expected, abs=1e-5)
    assert all(t.logprob < 0 and 0 < math.exp(t.logprob) < 1 for t in out)


def test_causal_translations_carry_logprobs_and_are_cached(tmp_path, causal):  # noqa: F811
    params = TranslationParams(model=causal, max_new_tokens=6, cache_dir=str(tmp_path))
    texts = ["which day comes after monday", "the month"]
    out = Translator(params).translate_scored(texts, "en", "de")
    assert all(t.text and math.isfinite(t.logprob) and t.logprob < 0 for t in out)
    again = Translator(params)
    assert again.translate_scored(texts, "en", "de") == out and again._loaded is None


# --- the cache --------------------------------------------------------------------------------


def test_cache_hit_keeps_the_logprob_and_translates_nothing(tmp_path, m2m):
    params = TranslationParams(model=m2m, max_new_tokens=8, cache_dir=str(tmp_path))
    texts = [f"which day comes after {w}" for w in ENGLISH[:5]]
    first = Translator(params).translate_scored(texts, "en", "de")
    again = Translator(params)
    calls = spy_generate(again, m2m)
    assert again.translate_scored(texts, "en", "de") == first
    assert calls == [] and again.stats["cached"] == 5 and again.stats["translated"] == 0


def test_an_old_cache_entry_without_logprob_is_translated_once_more(tmp_path, m2m):
    params = TranslationParams(model=m2m, max_new_tokens=8, cache_dir=str(tmp_path))
    tr = Translator(params)
    key = cache_key(m2m, "en", "de", "the month", tr.settings(m2m))
    path = TranslationCache(tmp_path, m2m).path
    with sqlite3.connect(path) as db:  # the table as it was before log-probs were stored
        db.execute("DROP TABLE t")
        db.execute("CREATE TABLE t (key TEXT PRIMARY KEY, output TEXT)")
        db.execute("INSERT INTO t VALUES (?, ?)", (key, "x"))
    calls = spy_generate(tr, m2m)
    out = tr.translate_scored(["the month"], "en", "de")
    assert len(calls) == 1 and out[0].text != "x" and out[0].logprob < 0
    cache = TranslationCache(tmp_path, m2m)
    assert list(cache.get_many([key]).values()) == [tuple(out[0])]
    cache.close()


def _translated_afresh(params: TranslationParams, m2m: str, texts: list[str]) -> bool:
    """Whether a new Translator with ``params`` runs the model on ``texts`` (a cache miss)."""
    tr = Translator(params)
    calls = spy_generate(tr, m2m)
    tr.translate_scored(texts, "en", "de")
    assert tr.stats["translated"] + tr.stats["cached"] == len(texts)
    return bool(calls)


def test_a_changed_generation_setting_misses_the_cache_the_same_settings_hit(tmp_path, m2m):
    params = TranslationParams(model=m2m, max_new_tokens=8, cache_dir=str(tmp_path))
    texts = ["which day comes after monday"]
    assert _translated_afresh(params, m2m, texts)  # an empty cache
    assert not _translated_afresh(params, m2m, texts)  # same settings: a hit
    assert _translated_afresh(replace(params, num_beams=2), m2m, texts)
    assert _translated_afresh(replace(params, max_new_tokens=9), m2m, texts)
    assert not _translated_afresh(replace(params, num_beams=2), m2m, texts)  # now cached too
    assert not _translated_afresh(replace(params, batch_size=3), m2m, texts)  # changes no output
    # the device type is part of the key (CPU and GPU can decode differently)
    cpu, gpu = (Translator(replace(params, device=d)).settings(m2m) for d in ("cpu", "cuda:1"))
    assert cpu["device"] == "cpu" and gpu["device"] == "cuda"
    key = cache_key(m2m, "en", "de", texts[0], cpu)
    assert key != cache_key(m2m, "en", "de", texts[0], gpu)
    assert key == cache_key(m2m, "en", "de", texts[0], Translator(params).settings(m2m))


def test_a_causal_models_key_ignores_num_beams(causal):  # noqa: F811
    params = TranslationParams(model=causal, max_new_tokens=6)
    greedy, beams = (Translator(replace(params, num_beams=n)).settings(causal) for n in (1, 4))
    assert greedy == beams and greedy["decoding"] == "greedy"  # it never uses beam search


def test_a_cache_from_before_settings_were_keyed_is_emptied_when_opened(tmp_path, m2m):
    path = TranslationCache(tmp_path, m2m).path
    path.unlink()
    old_key = hashlib.sha1("\0".join((m2m, "en", "de", "the month")).encode()).hexdigest()
    with sqlite3.connect(path) as db:  # a version-1 file: its keys lack the settings
        db.execute("CREATE TABLE t (key TEXT PRIMARY KEY, output TEXT, logprob REAL)")
        db.execute("INSERT INTO t VALUES (?, ?, ?)", (old_key, "x", -0.5))
    cache = TranslationCache(tmp_path, m2m)
    assert len(cache) == 0  # dropped: which settings made "x" is unknown
    cache.put_many({"k": ("y", -0.1)})
    cache.close()
    with sqlite3.connect(path) as db:
        assert db.execute("PRAGMA user_version").fetchone()[0] == KEY_VERSION
    cache = TranslationCache(tmp_path, m2m)  # a current file keeps its entries
    assert cache.get_many(["k"]) == {"k": ("y", -0.1)}
    cache.close()


def _hub_snapshot(cache: Path, repo: str, commit: str) -> None:
    """A Hub cache entry of ``repo`` whose main branch points at ``commit``."""
    folder = cache / f"models--{repo.replace('/', '--')}"
    (folder / "snapshots" / commit).mkdir(parents=True)
    (folder / "snapshots" / commit / "config.json").write_text('{"model_type": "m2m_100"}')
    (folder / "refs").mkdir(exist_ok=True)
    (folder / "refs" / "main").write_text(commit)


def test_model_revision_is_the_hub_commit_and_none_for_a_local_folder(tmp_path, m2m):
    hub = tmp_path / "hub"
    _hub_snapshot(hub, "capo/tiny-mt", "1" * 40)
    assert model_revision("capo/tiny-mt", cache_dir=hub) == "1" * 40
    _hub_snapshot(hub, "capo/tiny-mt", "2" * 40)  # main moved on: a new revision, new keys
    assert model_revision("capo/tiny-mt", cache_dir=hub) == "2" * 40
    assert model_revision(str(hub / "models--capo--tiny-mt" / "snapshots" / ("1" * 40))) == (
        "1" * 40
    )
    assert model_revision(m2m) is None  # a local folder: no revision known
    assert model_revision("capo/not-in-the-cache", cache_dir=hub) is None  # offline, unknown
    assert Translator(TranslationParams(model=m2m)).settings(m2m)["revision"] is None


# --- round trip -----------------------------------------------------------------------------


def test_round_trip_is_sacrebleus_chrf_of_the_back_translation(tmp_path, m2m):
    params = TranslationParams(model=m2m, max_new_tokens=8, cache_dir=str(tmp_path))
    tr = Translator(params)
    sources = ["which day comes after monday", "the month is friday", "a sunday"]
    out = tr.translate_scored(sources, "en", "de")
    quality = assess(tr, sources, out, "en", "de", round_trip=True)
    assert tr.stats["translated"] == 6  # three texts there, three back
    back = tr.translate([t.text for t in out], "de", "en")
    assert tr.stats["translated"] == 6  # the back-translations came from the cache
    for source, b, q in zip(sources, back, quality, strict=True):
        assert q.round_trip == pytest.approx(sacrebleu.sentence_chrf(b, [source]).score / 100)
        assert q.confidence == pytest.approx(math.exp(q.logprob) * q.round_trip)
    assert [q.round_trip for q in assess(tr, sources, out, "en", "de")] == [None] * 3


def test_round_trip_skips_degenerate_outputs():
    class Echo:
        def __init__(self):
            self.calls: list[list[str]] = []

        def translate(self, texts, src, tgt):
            self.calls.append(list(texts))
            return list(texts)

    echo = Echo()
    out = [Translation("", -0.1), Translation("der Monat", -0.2)]
    quality = assess(echo, ["the day", "the month"], out, "en", "de", round_trip=True)
    assert echo.calls == [["der Monat"]] and quality[0].degenerate == "empty"
    assert quality[0].round_trip is None and quality[0].confidence == 0.0


# --- through ingest ---------------------------------------------------------------------------


def _source(tmp_path, rows) -> str:
    src = tmp_path / "en.jsonl"
    src.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return str(src)


def _ingest(tmp_path, src: str, translation: TranslationParams, out: str = "out"):
    params = IngestParams(
        benchmark=BenchmarkParams(enabled=False),
        sources=(SourceParams(name="en", path=src, language="en", translate=True),),
        translation=translation,
        test_fraction=0.5,
    )
    report = run_ingest(params, seed=0, out_dir=tmp_path / out)
    pairs = [
        r
        for s in ("train", "test")
        for r in pq.read_table(tmp_path / out / f"{s}.parquet").to_pylist()
    ]
    quarantine = pq.read_table(tmp_path / out / "quarantine.parquet").to_pylist()
    return report, pairs, quarantine


ROWS = [
    {"prompt": f"which day comes after {a}", "chosen": b, "rejected": c}
    for a, b, c in [("monday", "tuesday", "friday"), ("friday", "the month", "sunday"),
                    ("sunday", "monday", "a day"), ("tuesday", "the month is", "is"),
                    ("a month", "friday is", "before sunday"), ("the day", "after", "before")]
]  # fmt: skip


def test_pair_confidence_is_the_lowest_of_its_texts_and_untranslated_rows_keep_null(tmp_path, m2m):
    translation = TranslationParams(
        model=m2m, targets=("de",), max_new_tokens=6, round_trip=True,
        cache_dir=str(tmp_path / "c"),
    )  # fmt: skip
    report, pairs, _ = _ingest(tmp_path, _source(tmp_path, ROWS), translation)
    originals = {r["id"]: r for r in pairs if r["source"] == "en"}
    german = [r for r in pairs if r["source"] == "en->de"]
    assert len(originals) == 6 and german
    assert all(r["translation_confidence"] is None for r in originals.values())
    tr = Translator(translation)
    for r in german:
        source = [originals[r["translated_from"]][f] for f in ("prompt", "chosen", "rejected")]
        out = tr.translate_scored(source, "en", "de")
        assert [t.text for t in out] == [r["prompt"], r["chosen"], r["rejected"]]
        back = tr.translate([t.text for t in out], "de", "en")
        expected = min(
            math.exp(t.logprob) * sacrebleu.sentence_chrf(b, [s]).score / 100
            for s, t, b in zip(source, out, back, strict=True)
        )
        assert r["translation_confidence"] == pytest.approx(expected, abs=1e-6)
    assert tr.stats["translated"] == 0  # everything came from ingest's cache
    summary = report["translation_confidence"]["de"]
    assert summary["pairs"] == 6 and summary["quarantined_share"] == 0.0
    assert summary["q10"] <= summary["q50"] <= summary["q90"]


def test_min_confidence_quarantines_with_the_score_and_counts_stay_right(tmp_path, m2m):
    translation = TranslationParams(
        model=m2m, targets=("de",), max_new_tokens=6, cache_dir=str(tmp_path / "c")
    )
    src = _source(tmp_path, ROWS)
    _, pairs, _ = _ingest(tmp_path, src, translation, "all")
    scores = sorted(r["translation_confidence"] for r in pairs if r["source"] == "en->de")
    threshold = (scores[len(scores) // 2 - 1] + scores[len(scores) // 2]) / 2
    strict = TranslationParams(**{**translation.__dict__, "min_confidence": threshold})
    report, pairs, quarantine = _ingest(tmp_path, src, strict, "strict")
    kept = [r for r in pairs if r["source"] == "en->de"]
    low = [q for q in quarantine if q["code"] == "low_translation_confidence"]
    assert kept and low and len(kept) + len(low) == len(scores)
    assert all(r["translation_confidence"] >= threshold for r in kept)
    for q in low:
        assert q["source"] == "en->de" and q["language"] == "de"
        value = float(q["reason"].split()[2])
        assert value < threshold and q["reason"].startswith("translation confidence ")
        assert f"< min_confidence {threshold:g}" in q["reason"] and "(lowest: " in q["reason"]
        assert json.loads(q["raw"])["translation_confidence"] == pytest.approx(value, abs=1e-4)
    assert report["accepted"] + report["quarantined"] == report["read"] == 12
    assert report["sources"]["en->de"]["reasons"] == {"low_translation_confidence": len(low)}
    assert report["languages"]["de"]["quarantined"] == len(low)
    summary = report["translation_confidence"]["de"]
    assert summary["quarantined_low_confidence"] == len(low)
    assert summary["quarantined_share"] == round(len(low) / 6, 4)


GERMAN_OF = {
    "which day comes after monday": "Welcher Tag kommt nach Montag?",
    "which day comes after friday": "Welcher Tag kommt nach Freitag?",
    "which day comes after sunday": "Welcher Tag kommt nach Sonntag?",
    "tuesday": "Dienstag",
    "friday": "Freitag",
    "saturday": "Samstag Samstag Samstag Samstag",  # runaway repetition
    "sunday": "Sonntag",
    "monday": "Translate the following text to German: Montag",  # the instruction restated
}


@pytest.fixture
def fake_generate(monkeypatch):
    """Translator._generate replaced by a lookup: fixed outputs, log-prob -0.1 each."""
    calls: list[list[str]] = []

    def generate(self, name, texts, src, tgt):
        calls.append(list(texts))
        return [Translation(GERMAN_OF[t], -0.1) for t in texts]

    monkeypatch.setattr(Translator, "_generate", generate)
    return calls


@pytest.mark.parametrize("min_confidence", [0.0, 0.5])
def test_degenerate_pairs_name_the_text_and_reason(tmp_path, fake_generate, min_confidence):
    rows = [
        {"prompt": "which day comes after monday", "chosen": "tuesday", "rejected": "friday"},
        {"prompt": "which day comes after friday", "chosen": "saturday", "rejected": "sunday"},
        {"prompt": "which day comes after sunday", "chosen": "monday", "rejected": "friday"},
    ]
    translation = TranslationParams(
        model=str(tmp_path / "fake"), targets=("de",), min_confidence=min_confidence,
        cache_dir=str(tmp_path / "c"),
    )  # fmt: skip
    report, pairs, quarantine = _ingest(tmp_path, _source(tmp_path, rows), translation)
    german = {r["prompt"]: r for r in pairs if r["source"] == "en->de"}
    assert german["Welcher Tag kommt nach Montag?"]["translation_confidence"] == pytest.approx(
        math.exp(-0.1), abs=1e-6
    )
    summary = report["translation_confidence"]["de"]
    assert summary["degenerate_reasons"] == {"repetition": 1, "instruction": 1}
    assert report["accepted"] + report["quarantined"] == report["read"] == 6
    if min_confidence == 0:  # off: degenerate pairs stay, at confidence 0 (no CAPO weight)
        assert german["Welcher Tag kommt nach Freitag?"]["translation_confidence"] == 0.0
        return
    assert list(german) == ["Welcher Tag kommt nach Montag?"]
    bad = {q["row"]: q for q in quarantine if q["code"] == "degenerate_translation"}
    assert bad[2]["reason"].startswith(
        "chosen: repetition ('Samstag' 4 times in a row); translation confidence 0"
    )
    assert bad[3]["reason"].startswith("chosen: instruction (restates the instruction")
    assert summary["quarantined_degenerate"] == 2 and summary["quarantined_share"] == 0.6667
    assert report["languages"]["de"] == {"quarantined": 2, "test": 0, "train": 1} or (
        report["languages"]["de"] == {"quarantined": 2, "test": 1, "train": 0}
    )


def test_confidence_quantiles_are_numpys_linear_quantiles():
    """One definition for the ingest report and validation.json: numpy's default quantile."""
    import numpy as np

    from capo_pipelines.data.translation_quality import SUMMARY_QUANTILES, confidence_quantiles

    rng = np.random.default_rng(0)
    for n in (1, 2, 7, 100):
        values = rng.random(n)
        got = confidence_quantiles(values)
        want = {
            f"q{round(q * 100)}": round(float(np.quantile(values, q)), 4) for q in SUMMARY_QUANTILES
        }
        assert got == want
    assert confidence_quantiles([]) == {"q10": None, "q50": None, "q90": None}
