"""How much to trust a machine translation: per text, then per pair.

Each translated text gets a TextQuality, made where the translation is made:

- ``logprob``: the translator's own confidence, the mean log-probability of its output
  tokens (up to and including the end token; a forced language token is left out), from
  generate()'s scores through ``compute_transition_scores``. Stored in the translation cache
  beside the output. Its confidence is exp(mean log-prob), the geometric-mean token
  probability, in (0, 1]: 0.5 means the model gave its tokens one chance in two on average.
- ``round_trip`` (``ingest.translation.round_trip``): the output translated back into the
  source language and scored against the original with sacrebleu's sentence chrF, / 100.
- ``degenerate``: an output no translator should give, with its reason: ``empty``,
  ``copy_of_source`` (the source again, for a source of three words or more: names and
  numbers may rightly stay the same), ``instruction`` (it restates the causal translator's
  instruction, INSTRUCTION_MARKERS) and ``repetition`` (runaway repetition: a run of one to
  four words repeated REPEAT_RUN times in a row, or text of 200 bytes or more that zlib
  compresses over MAX_COMPRESSION to one; not counted when the source does the same).

A text's confidence is 0 when it is degenerate, else exp(logprob), times the round-trip
chrF when that is measured. A pair's ``translation_confidence`` is the lowest confidence of
its texts (prompt, chosen, rejected, or every message of a conversation): one bad text is
enough to break a pair, since a garbled answer can swap which answer is better, and the
minimum of the parts keeps that visible where a mean would average it away.
"""

from __future__ import annotations

import math
import unicodedata
import zlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple, Protocol

__all__ = [
    "DEGENERATE_REASONS",
    "INSTRUCTION_MARKERS",
    "MAX_COMPRESSION",
    "REPEAT_RUN",
    "SUMMARY_QUANTILES",
    "TextQuality",
    "Translation",
    "assess",
    "confidence_quantiles",
    "degenerate",
    "mean_logprobs",
    "pair_quality",
    "round_trip_chrf",
]

DEGENERATE_REASONS = ("empty", "copy_of_source", "instruction", "repetition")
# Fixed phrases of pipelines/data/translate_causal.py's INSTRUCTION (tests check they are in it).
INSTRUCTION_MARKERS = ("translate the following text", "translation only")
REPEAT_RUN = 4  # a run of 1-4 words repeated this many times in a row is runaway repetition
MAX_COMPRESSION = 3.0  # zlib ratio above which 200+ bytes of text count as repetition
COPY_MIN_WORDS = 3  # a source this long or longer must not come back unchanged


class Translation(NamedTuple):
    """One translated text and the translator's mean token log-probability of it."""

    text: str
    logprob: float


@dataclass(frozen=True)
class TextQuality:
    """The quality estimate of one translated text (see the module docstring)."""

    logprob: float
    round_trip: float | None = None  # chrF / 100 of the back-translation, when measured
    degenerate: str | None = None  # one of DEGENERATE_REASONS, else None
    detail: str = ""  # what the degenerate check found, in a few words

    @property
    def logprob_confidence(self) -> float:
        """exp(mean token log-prob): the geometric-mean token probability, in (0, 1]."""
        return min(1.0, math.exp(self.logprob))

    @property
    def confidence(self) -> float:
        """0 when degenerate, else exp(logprob) times the round-trip chrF when measured."""
        if self.degenerate:
            return 0.0
        value = self.logprob_confidence
        return value * self.round_trip if self.round_trip is not None else value


class _Translates(Protocol):
    def translate(self, texts: Sequence[str], src: str, tgt: str) -> list[str]: ...


def mean_logprobs(model: Any, generated: Any, eos_ids: Iterable[int], skip: int = 0) -> list[float]:
    """Per row of a ``generate(..., output_scores=True, return_dict_in_generate=True)``
    result: the mean log-probability of the generated tokens, up to and including the first
    end token (later positions are padding), leaving out the first ``skip`` (forced) tokens.
    The scores are what generate() decoded with (after its logits processors), renormalised."""
    import torch

    scores = tuple(s.float().log_softmax(-1) for s in generated.scores)
    steps = model.compute_transition_scores(
        generated.sequences, scores, getattr(generated, "beam_indices", None)
    )
    tokens = generated.sequences[:, -steps.shape[1] :]
    is_end = torch.zeros_like(tokens, dtype=torch.bool)
    for eos in set(eos_ids):
        is_end |= tokens == eos
    after_end = (is_end.long().cumsum(1) - is_end.long()) > 0  # past the first end token
    keep = ~after_end & torch.isfinite(steps)
    keep[:, :skip] = False
    total = torch.where(keep, steps, torch.zeros_like(steps)).sum(1)
    count = keep.sum(1)
    return [float(t / c) if c else 0.0 for t, c in zip(total.tolist(), count.tolist(), strict=True)]


def _norm(text: str) -> str:
    return " ".join(unicodedata.normalize("NFKC", text).casefold().split())


def _repeated_run(text: str) -> str | None:
    words = text.split()
    for n in range(1, 5):
        for start in range(len(words) - n * REPEAT_RUN + 1):
            gram = words[start : start + n]
            if all(words[start + k * n : start + (k + 1) * n] == gram for k in range(REPEAT_RUN)):
                return f"{' '.join(gram)!r} {REPEAT_RUN} times in a row"
    data = text.encode("utf-8")
    if len(data) >= 200:
        ratio = len(data) / len(zlib.compress(data, 9))
        if ratio > MAX_COMPRESSION:
            return f"compresses {ratio:.1f} to 1"
    return None


def degenerate(source: str, output: str) -> tuple[str, str] | None:
    """(reason, detail) when ``output`` is not a usable translation of ``source``, else None.
    Reasons, checked in this order: empty, copy_of_source, instruction, repetition."""
    out = output.strip()
    if not out:
        return "empty", "empty output"
    if _norm(out) == _norm(source) and len(source.split()) >= COPY_MIN_WORDS:
        return "copy_of_source", "identical to the source"
    folded, folded_source = _norm(out), _norm(source)
    for marker in INSTRUCTION_MARKERS:
        if marker in folded and marker not in folded_source:
            return "instruction", f"restates the instruction ({marker!r})"
    found = _repeated_run(out)
    if found and not _repeated_run(source):
        return "repetition", found
    return None


_CHRF: Any = None


def round_trip_chrf(original: str, back: str) -> float:
    """sacrebleu's sentence chrF of ``back`` against ``original``, / 100: in [0, 1]."""
    global _CHRF
    if _CHRF is None:
        from sacrebleu.metrics import CHRF

        _CHRF = CHRF()
    return _CHRF.sentence_score(back, [original]).score / 100


def assess(
    translator: _Translates,
    sources: Sequence[str],
    translations: Sequence[Translation],
    src: str,
    tgt: str,
    *,
    round_trip: bool = False,
) -> list[TextQuality]:
    """The TextQuality of each translation of ``sources`` (``src`` -> ``tgt``). With
    ``round_trip`` every output that is not degenerate is translated back (through the
    translator and its cache: twice the translation work) and scored with chrF."""
    found = [degenerate(s, t.text) for s, t in zip(sources, translations, strict=True)]
    backs: dict[int, str] = {}
    if round_trip:
        todo = [i for i, d in enumerate(found) if d is None]
        back = translator.translate([translations[i].text for i in todo], tgt, src)
        backs = dict(zip(todo, back, strict=True))
    out = []
    for i, (source, tr, bad) in enumerate(zip(sources, translations, found, strict=True)):
        chrf = round_trip_chrf(source, backs[i]) if i in backs else None
        reason, detail = bad or (None, "")
        out.append(TextQuality(tr.logprob, chrf, reason, detail))
    return out


def pair_quality(qualities: Sequence[TextQuality]) -> tuple[float, int]:
    """A pair's translation_confidence (the lowest of its texts') and the index of the text
    that sets it (a degenerate one first, then the earliest)."""
    worst = min(
        range(len(qualities)),
        key=lambda i: (qualities[i].confidence, qualities[i].degenerate is None, i),
    )
    return qualities[worst].confidence, worst


SUMMARY_QUANTILES = (0.1, 0.5, 0.9)  # the ingest and validation reports' q10, q50, q90


def confidence_quantiles(values: Iterable[float]) -> dict[str, float | None]:
    """q10/q50/q90 of translation confidences, linear between order statistics (numpy's
    and pandas' default), rounded to 4 places; None when there are none. The one
    definition behind the ingest report and reports/validation.json."""
    ordered = sorted(float(v) for v in values)
    out: dict[str, float | None] = {}
    for q in SUMMARY_QUANTILES:
        key = f"q{round(q * 100)}"
        if not ordered:
            out[key] = None
            continue
        pos = q * (len(ordered) - 1)
        low = math.floor(pos)
        high = min(low + 1, len(ordered) - 1)
        out[key] = round(ordered[low] + (ordered[high] - ordered[low]) * (pos - low), 4)
    return out
