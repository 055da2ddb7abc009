"""Machine translation of English pairs with a seq2seq or causal instruct model, cached on disk.

    from capo_pipelines.data.translate import Translator
    from capo_pipelines.params import TranslationParams

    tr = Translator(TranslationParams(model="facebook/nllb-200-distilled-600M", targets=("de",)))
    tr.translate(["Which day comes after Monday?"], "en", "de")

Model families: MarianMT, one model per language pair (put `{src}` and `{tgt}` in the model
name, e.g. "Helsinki-NLP/opus-mt-{src}-{tgt}"); NLLB and M2M100, one model for all pairs,
steered by a forced first token (`deu_Latn` for NLLB, `__de__` for M2M100), whichever the
tokenizer knows. Causal instruct models (HF id, folder, or a local GGUF file such as
SmolLM2-135M-Instruct from scripts/fetch-smollm2.sh) translate through their chat template
with a fixed instruction (pipelines/data/translate_causal.py). Texts are deduplicated, looked up
in the cache (keyed by the text and every setting that changes its translation:
``Translator.settings``), and the misses translated in batches sorted by length, on GPU when
present. Every output comes with the translator's mean token log-probability of it
(``translate_scored``; pipelines/data/translation_quality.py), cached with the output.
"""

from __future__ import annotations

import json
import logging
from collections import Counter
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from tqdm.auto import tqdm

from capo.errors import CapoError
from capo_pipelines.data.checks import TEXT_FIELDS
from capo_pipelines.data.translate_cache import TranslationCache, cache_key, model_revision
from capo_pipelines.data.translate_causal import INSTRUCTION_ID, CausalTranslationModel, is_causal
from capo_pipelines.data.translation_quality import Translation, mean_logprobs
from capo_pipelines.models.chat import MESSAGES
from capo_pipelines.models.device import resolve_device
from capo_pipelines.params import TranslationParams

__all__ = [
    "NLLB_CODES",
    "Translator",
    "language_token",
    "plain_texts",
    "translated_fields",
    "translation_units",
    "unit_names",
]

log = logging.getLogger(__name__)

NLLB_CODES = {
    "ar": "arb_Arab", "de": "deu_Latn", "en": "eng_Latn", "es": "spa_Latn", "fr": "fra_Latn",
    "hi": "hin_Deva", "it": "ita_Latn", "ja": "jpn_Jpan", "ko": "kor_Hang", "nl": "nld_Latn",
    "pl": "pol_Latn", "pt": "por_Latn", "ru": "rus_Cyrl", "tr": "tur_Latn", "uk": "ukr_Cyrl",
    "vi": "vie_Latn", "zh": "zho_Hans",
}  # fmt: skip


def translation_units(pair: Mapping[str, Any]) -> list[str]:
    """What is translated of a pair: its three texts, or each message's content."""
    if pair.get(MESSAGES):
        conv = json.loads(pair[MESSAGES])
        return [m["content"] for f in TEXT_FIELDS for m in conv[f]]
    return [pair[f] for f in TEXT_FIELDS]


def unit_names(pair: Mapping[str, Any]) -> list[str]:
    """The name of each of ``translation_units(pair)``: the field, or field[i] of a message."""
    if pair.get(MESSAGES):
        conv = json.loads(pair[MESSAGES])
        return [
            f"{f}[{i}]" if len(conv[f]) > 1 else f for f in TEXT_FIELDS for i in range(len(conv[f]))
        ]
    return list(TEXT_FIELDS)


def translated_fields(pair: Mapping[str, Any], outputs: Iterator[str]) -> dict[str, Any]:
    """prompt/chosen/rejected of a translation from ``outputs`` (in translation_units order):
    texts, or the pair's messages with their contents translated and their roles kept."""
    if pair.get(MESSAGES):
        conv = json.loads(pair[MESSAGES])
        return {
            f: [{"role": m["role"], "content": next(outputs)} for m in conv[f]] for f in TEXT_FIELDS
        }
    return {f: next(outputs) for f in TEXT_FIELDS}


def plain_texts(fields: Mapping[str, Any]) -> list[str]:
    """The text of each field of ``translated_fields`` (message contents one per line)."""
    return [
        v if isinstance(v, str) else "\n".join(m["content"] for m in v)
        for v in (fields[f] for f in TEXT_FIELDS)
    ]


def language_token(tokenizer: Any, lang: str) -> str:
    """The forced-BOS token of ``lang``: its NLLB code, else M2M100's `__xx__`, if in vocab."""
    vocab = tokenizer.get_vocab()
    candidates = [c for c in (NLLB_CODES.get(lang), f"__{lang}__") if c]
    for token in candidates:
        if token in vocab:
            return token
    raise CapoError(f"translation model has no language token for {lang!r} (tried {candidates})")


class Translator:
    """Translates text with the model of ``params``; ``stats`` counts batches and cache hits."""

    def __init__(self, params: TranslationParams) -> None:
        if not params.model:
            raise CapoError("ingest.translation.model: no translation model configured")
        self.params = params
        self.stats: Counter[str] = Counter()
        self._loaded: tuple[str, Any, Any] | None = None
        self._causal: dict[str, bool] = {}
        self._revisions: dict[str, str | None] = {}
        self.device = resolve_device(params.device)

    def settings(self, name: str) -> dict[str, Any]:
        """What, besides model name, language pair and text, decides how model ``name``
        translates: part of every cache key (pipelines/data/translate_cache.py). Beam search
        applies to seq2seq models only (causal ones decode greedily)."""
        if name not in self._causal:
            self._causal[name] = is_causal(name)
        if name not in self._revisions:
            self._revisions[name] = model_revision(name)
        settings: dict[str, Any] = {
            "revision": self._revisions[name],
            "max_new_tokens": self.params.max_new_tokens,
            # CPU and GPU kernels can decode differently; GPUs are not told apart
            "device": str(self.device).split(":")[0],
        }
        if self._causal[name]:
            settings["decoding"] = "greedy"  # the instruction is in the cache name
        else:
            settings["num_beams"] = self.params.num_beams
        return settings

    def translate(self, texts: Sequence[str], src: str, tgt: str) -> list[str]:
        """Translations of ``texts`` from ``src`` to ``tgt``, in order."""
        return [t.text for t in self.translate_scored(texts, src, tgt)]

    def translate_scored(self, texts: Sequence[str], src: str, tgt: str) -> list[Translation]:
        """Translations of ``texts`` with the translator's mean token log-prob, in order. A
        cache entry without a log-prob (from before they were stored) is translated again."""
        name = self.params.model.format(src=src, tgt=tgt)  # type: ignore[union-attr]
        settings = self.settings(name)
        # a causal model's output depends on the instruction too: it is part of the cache name
        cache_name = f"{name} [chat {INSTRUCTION_ID}]" if self._causal[name] else name
        cache = TranslationCache(self.params.cache_dir, cache_name)
        try:
            keys = {t: cache_key(name, src, tgt, t, settings) for t in dict.fromkeys(texts)}
            done = {k: v for k, v in cache.get_many(keys.values()).items() if v[1] is not None}
            todo = [t for t, k in keys.items() if k not in done]
            self.stats["cached"] += len(keys) - len(todo)
            if todo:
                made = self._generate(name, todo, src, tgt)
                fresh = dict(zip((keys[t] for t in todo), made, strict=True))
                cache.put_many(fresh)
                done.update(fresh)
        finally:
            cache.close()
        return [Translation(*done[keys[t]]) for t in texts]

    def _load(self, name: str) -> tuple[Any, Any]:
        if self._loaded is None or self._loaded[0] != name:
            from transformers import AutoModelForSeq2SeqLM, AutoTokenizer

            try:
                tokenizer = AutoTokenizer.from_pretrained(name)
                model = AutoModelForSeq2SeqLM.from_pretrained(name).to(self.device).eval()
            except (OSError, ValueError) as err:
                first = str(err).strip().splitlines()[0] if str(err).strip() else repr(err)
                raise CapoError(
                    f"ingest.translation.model {name!r}: cannot load: {first}"
                ) from None
            self._loaded = (name, tokenizer, model)
        return self._loaded[1], self._loaded[2]

    def _generate(self, name: str, texts: list[str], src: str, tgt: str) -> list[Translation]:
        import torch

        if self._causal[name]:
            return self._generate_causal(name, texts, src, tgt)
        tokenizer, model = self._load(name)
        kwargs: dict[str, Any] = {"max_new_tokens": self.params.max_new_tokens}
        kwargs["num_beams"] = self.params.num_beams
        if model.config.model_type != "marian":  # one model for all pairs: force the target
            if hasattr(tokenizer, "src_lang"):
                tokenizer.src_lang = language_token(tokenizer, src)
            kwargs["forced_bos_token_id"] = tokenizer.convert_tokens_to_ids(
                language_token(tokenizer, tgt)
            )
        skip = 1 if "forced_bos_token_id" in kwargs else 0  # the forced language token
        eos = [model.generation_config.eos_token_id, tokenizer.eos_token_id]
        eos_ids = [e for x in eos for e in (x if isinstance(x, list) else [x]) if e is not None]
        order = sorted(range(len(texts)), key=lambda i: (len(texts[i]), i))
        out = [Translation("", 0.0)] * len(texts)
        size = self.params.batch_size
        for start in tqdm(range(0, len(order), size), desc=f"translate {src}->{tgt}", unit="batch"):
            idx = order[start : start + size]
            enc = tokenizer(
                [texts[i] for i in idx], return_tensors="pt", padding=True, truncation=True
            )
            enc = {k: v.to(self.device) for k, v in enc.items() if k != "token_type_ids"}
            with torch.inference_mode():
                gen = model.generate(
                    **enc, **kwargs, output_scores=True, return_dict_in_generate=True
                )
                logprobs = mean_logprobs(model, gen, eos_ids, skip)
            decoded = tokenizer.batch_decode(gen.sequences, skip_special_tokens=True)
            for i, text, lp in zip(idx, decoded, logprobs, strict=True):
                out[i] = Translation(text.strip(), lp)
            self.stats["batches"] += 1
            self.stats["translated"] += len(idx)
        log.info("translated %d texts %s->%s with %s", len(texts), src, tgt, name)
        return out

    def _generate_causal(
        self, name: str, texts: list[str], src: str, tgt: str
    ) -> list[Translation]:
        if self._loaded is None or self._loaded[0] != name:
            self._loaded = (name, None, CausalTranslationModel(name, self.device))
        out = self._loaded[2].translate(
            texts,
            src,
            tgt,
            batch_size=self.params.batch_size,
            max_new_tokens=self.params.max_new_tokens,
            stats=self.stats,
        )
        log.info("translated %d texts %s->%s with %s (chat template)", len(texts), src, tgt, name)
        return out
