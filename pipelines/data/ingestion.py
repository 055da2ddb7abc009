"""The ingest stage's core: benchmark, sources and translations into checked, split pairs.

    from capo_pipelines.data import run_ingest
    from capo_pipelines.params import load_params

    params = load_params("params.yaml")
    report = run_ingest(params.ingest, seed=params.seed, out_dir="data/pairs")

Sources are read in order (the benchmark first), in chunks of `chunk_rows`: each row is
checked (capo_pipelines.data.checks), its language identified when the source gives none, exact
duplicates (same id) quarantined, and the rest split by a stable hash of the prompt. A mirror
pair (same language and prompt, chosen and rejected swapped) contradicts an accepted one: both
rows are quarantined, each naming the other, in whichever chunk or source the second comes.
Accepted pairs keep their record number (`source_row`); quarantined rows keep their
language (given, else identified from their texts, else null). A source that yields no
rows is an error unless it sets `allow_empty`.
Translated pairs keep the split of their English original and form derived sources named
"<source>-><language>"; a translation whose detected language is wrong is quarantined. Each
translated pair gets a ``translation_confidence`` (pipelines/data/translation_quality.py); with
``translation.min_confidence`` > 0, pairs below it are quarantined (``degenerate_translation``
when a text is degenerate, naming the text and the reason, else ``low_translation_confidence``),
and the report gives each target language's confidence distribution.
Conversational pairs keep their messages (``messages``, pipelines/models/chat.py); ``chat_format``
makes the pairs of a run one format, as TRL trains on one (pipelines/data/chat_format.py).
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field, replace
from itertools import islice
from pathlib import Path
from typing import Any

from tqdm.auto import tqdm

from capo.errors import CapoError
from capo_pipelines.data.benchmark import generate_benchmark
from capo_pipelines.data.chat_format import apply_chat_format, make_conversational
from capo_pipelines.data.checks import Rejection, RowChecker
from capo_pipelines.data.contract import pair_id
from capo_pipelines.data.langid import (
    detect_languages,
    in_script,
    matches_language,
    normalize_language,
)
from capo_pipelines.data.record import Record, raw_text
from capo_pipelines.data.sink import OUTPUTS, PairSink
from capo_pipelines.data.sources import read_source
from capo_pipelines.data.split import split_of
from capo_pipelines.data.translate import (
    Translator,
    plain_texts,
    translated_fields,
    translation_units,
    unit_names,
)
from capo_pipelines.data.translation_quality import TextQuality, assess, pair_quality
from capo_pipelines.params import IngestParams, SourceParams

__all__ = ["run_ingest"]

log = logging.getLogger(__name__)


@dataclass
class _Run:
    params: IngestParams
    languages: tuple[str, ...]
    sink: PairSink
    seen: dict[str, tuple[str, int]] = field(default_factory=dict)  # id -> (source, row)
    conversational: set[bool] = field(default_factory=set)  # formats of the accepted pairs


def run_ingest(params: IngestParams, seed: int, out_dir: str | Path) -> dict[str, Any]:
    """Write train/test/quarantine Parquet and the report into ``out_dir``; return the report."""
    languages = _codes(params.languages, "ingest.languages")
    for spec in params.sources:  # fail on a bad source setting before any work
        if spec.language is not None:
            _codes([spec.language], f"ingest.sources.{spec.name}.language", languages)
    with PairSink(out_dir) as sink:
        run = _Run(params, languages, sink)
        if params.benchmark.enabled:
            rows = generate_benchmark(params.benchmark, seed)
            records = (Record(i, r, raw_text(r)) for i, r in enumerate(rows, 1))
            checker = RowChecker("benchmark", {}, languages, internal=True)
            _consume(run, "benchmark", records, checker)
        for spec in params.sources:
            _ingest_source(run, spec)
    if len(run.conversational) > 1:  # chat_format auto, some conversations: all become ones
        paths = [Path(out_dir) / OUTPUTS[split] for split in ("train", "test")]
        log.info("ingest: %d plain-text pairs made conversations", make_conversational(paths))
    report = sink.report()
    log.info("ingest: read %(read)d, accepted %(accepted)d, quarantined %(quarantined)d", report)
    return report


def _codes(
    codes: Iterable[str], where: str, allowed: Iterable[str] | None = None
) -> tuple[str, ...]:
    out = []
    for code in codes:
        try:
            out.append(normalize_language(code))
        except ValueError as err:
            raise CapoError(f"{where}: {err}") from None
        if allowed is not None and out[-1] not in allowed:
            raise CapoError(f"{where}: {code!r} is not in ingest.languages")
    return tuple(dict.fromkeys(out))


def _ingest_source(run: _Run, spec: SourceParams) -> None:
    where = spec.path if spec.type == "file" else f"{spec.path} ({spec.split})"
    language = normalize_language(spec.language) if spec.language else None
    checker = RowChecker(where, spec.columns, run.languages, language, run.params.max_row_chars)
    records = read_source(spec, run.params.chunk_rows, run.params.max_row_chars)
    keep: list[tuple[int, dict[str, Any]]] | None = [] if spec.translate else None
    if not _consume(run, spec.name, records, checker, keep) and not spec.allow_empty:
        raise CapoError(
            f"{where}: source {spec.name!r} has no rows"
            " (set allow_empty: true on the source if that is expected)"
        )
    if keep is not None:  # a retracted pair (a mirror came later) is not translated
        _translate_source(run, spec, [k for k in keep if k[1]["id"] not in run.sink.retracted])


def _chunks(records: Iterable[Record], size: int) -> Iterator[list[Record]]:
    it = iter(records)
    while chunk := list(islice(it, size)):
        yield chunk


def _consume(
    run: _Run,
    name: str,
    records: Iterable[Record],
    checker: RowChecker,
    keep: list[tuple[int, dict[str, Any]]] | None = None,
    **meta: Any,
) -> int:
    """Check, identify, dedup and write ``records``; returns how many there were."""
    run.sink.source(name, **meta)
    keep_language = run.params.translation.source_language
    read = 0
    with tqdm(desc=f"ingest {name}", unit="rows", disable=None) as bar:
        for chunk in _chunks(records, run.params.chunk_rows):
            checked = [(rec, checker.check(rec)) for rec in chunk]
            _identify(checked, run.languages, checker)
            accepted, quarantined = [], []
            for rec, result in checked:
                if isinstance(result, dict):
                    result = _repeated(run, name, rec.row, result) or result
                if isinstance(result, Rejection):
                    quarantined.append(_quarantine_row(name, rec, result))
                    continue
                result["source_row"] = rec.row
                _finish(result, name, run.params.test_fraction)
                apply_chat_format(result, run.params.chat_format)
                run.conversational.add(bool(result["messages"]))
                accepted.append(result)
                if keep is not None and result["language"] == keep_language:
                    keep.append((rec.row, result))
            run.sink.write(name, accepted, quarantined)
            bar.update(len(chunk))
            read += len(chunk)
    return read


def _repeated(run: _Run, name: str, row: int, pair: dict[str, Any]) -> Rejection | None:
    """Give ``pair`` its id; a Rejection when it repeats an accepted pair or mirrors one
    (then that pair is retracted too: the sink moves it to quarantine)."""
    lang, prompt = pair["language"], pair["prompt"]
    pair["id"] = pair_id(lang, prompt, pair["chosen"], pair["rejected"])
    if pair["id"] in run.seen:
        return Rejection("duplicate", f"exact duplicate of pair {pair['id']}", language=lang)
    mirror = pair_id(lang, prompt, pair["rejected"], pair["chosen"])
    if mirror in run.seen:
        other, other_row = run.seen[mirror]
        run.sink.retract(mirror, "mirror_pair", f"mirror of {name} row {row}{_MIRROR}")
        reason = f"mirror of {other} row {other_row} (pair {mirror}){_MIRROR}"
        return Rejection("mirror_pair", reason, language=lang)
    run.seen[pair["id"]] = (name, row)
    return None


_MIRROR = ": same language and prompt, chosen and rejected swapped"


def _identify(
    checked: list[tuple[Record, Any]], languages: tuple[str, ...], checker: RowChecker
) -> None:
    """Fill in the language of rows whose source gives none, in one batch per chunk.

    A pair that cannot be identified is quarantined; a quarantined row gets the language of
    whatever text it has, for the per-language counts (null when there is none).
    """
    todo, texts = [], []
    for i, (rec, result) in enumerate(checked):
        text = _text_to_identify(rec, result, checker)
        if text is not None:
            todo.append(i)
            texts.append(text)
    for i, found in zip(todo, detect_languages(texts, languages), strict=True):
        rec, result = checked[i]
        if isinstance(result, Rejection):
            checked[i] = (rec, replace(result, language=found))
        elif found is None:
            reason = "language could not be identified; set the source's language"
            checked[i] = (rec, Rejection("language_unidentified", reason, "language"))
        else:
            result["language"] = found


def _text_to_identify(rec: Record, result: Any, checker: RowChecker) -> str | None:
    if isinstance(result, dict):
        return f"{result['prompt']}\n{result['chosen']}" if result["language"] is None else None
    if result.language is not None or rec.data is None:
        return None
    texts = [rec.data.get(checker.col(f)) for f in ("prompt", "chosen")]
    text = "\n".join(t for t in texts if isinstance(t, str) and t.strip())
    return text or None


def _finish(pair: dict[str, Any], name: str, test_fraction: float) -> None:
    pair["source"] = name
    pair["label_flipped"] = bool(pair.get("label_flipped"))
    if pair.get("split") not in ("train", "test"):
        pair["split"] = split_of(pair["language"], pair["prompt"], test_fraction)


def _quarantine_row(name: str, rec: Record, rej: Rejection) -> dict[str, Any]:
    return {
        "source": name,
        "row": rec.row,
        "code": rej.code,
        "field": rej.field,
        "reason": raw_text(rej.reason),
        "raw": rec.raw,
        "language": rej.language,
    }


def _translate_source(run: _Run, spec: SourceParams, keep: list[tuple[int, dict]]) -> None:
    tparams = run.params.translation
    src = normalize_language(tparams.source_language)
    targets = _codes(tparams.targets, "ingest.translation.targets", run.languages)
    if not targets:
        raise CapoError(
            f"ingest.sources.{spec.name}.translate: ingest.translation.targets is empty"
        )
    translator = Translator(tparams)
    for tgt in (t for t in targets if t != src):
        texts = [t for _, pair in keep for t in translation_units(pair)]
        out = translator.translate_scored(texts, src, tgt)
        quality = assess(translator, texts, out, src, tgt, round_trip=tparams.round_trip)
        name = f"{spec.name}->{tgt}"
        parts = _per_pair(keep, quality)
        records = _translated_records(
            keep, [t.text for t in out], parts, tgt, run.languages, tparams.min_confidence
        )
        checker = RowChecker(name, {}, run.languages, tgt, run.params.max_row_chars, internal=True)
        _consume(run, name, records, checker, translated_from=spec.name, model=tparams.model)
        degenerate = Counter(q.degenerate for p in parts for q in p if q.degenerate)
        run.sink.translation_quality(name, tgt, [pair_quality(p)[0] for p in parts], degenerate)
    log.info("translation of %s: %s", spec.name, dict(translator.stats))


def _per_pair(keep: list[tuple[int, dict]], quality: list[TextQuality]) -> list[list[TextQuality]]:
    """``quality`` (one per translated text) cut into each pair's texts, in ``keep`` order."""
    out, start = [], 0
    for _, pair in keep:
        n = len(translation_units(pair))
        out.append(quality[start : start + n])
        start += n
    return out


def _translated_records(
    keep: list[tuple[int, dict]],
    out: list[str],
    quality: list[list[TextQuality]],
    tgt: str,
    languages: tuple[str, ...],
    min_confidence: float = 0.0,
) -> list[Record]:
    outputs = iter(out)
    fields = [translated_fields(pair, outputs) for _, pair in keep]
    triples = [plain_texts(f) for f in fields]
    detected = detect_languages(["\n".join(t) for t in triples], languages)
    records = []
    rows = zip(keep, fields, triples, detected, quality, strict=True)
    for (row, pair), data, texts, found, parts in rows:
        confidence, worst = pair_quality(parts)
        data |= {k: pair[k] for k in ("score_chosen", "score_rejected", "split")}
        data |= {"translated_from": pair["id"], "language": tgt}
        data["translation_confidence"] = round(confidence, 6)
        text = unit_names(pair)[worst]
        if confidence < min_confidence and parts[worst].degenerate:
            reason = (
                f"{text}: {parts[worst].degenerate} ({parts[worst].detail}); translation"
                f" confidence 0 < min_confidence {min_confidence:g}"
            )
            records.append(Record(row, None, raw_text(data), "degenerate_translation", reason))
        elif all(t.strip() for t in texts) and not matches_language(
            "\n".join(texts), tgt, languages, detected=found
        ):
            reason = _wrong_language(texts, tgt, found)
            records.append(Record(row, None, raw_text(data), "wrong_language", reason))
        elif confidence < min_confidence:
            reason = (
                f"translation confidence {confidence:.4f} < min_confidence {min_confidence:g}"
                f" (lowest: {text})"
            )
            records.append(Record(row, None, raw_text(data), "low_translation_confidence", reason))
        else:
            records.append(Record(row, data, raw_text(data)))
    return records


def _wrong_language(texts: list[str], tgt: str, found: str | None) -> str:
    """Why a translation failed the language gate, in one sentence."""
    if found and found != tgt:
        return f"translation detected as {found}, expected {tgt}"
    if not in_script("\n".join(texts).strip(), tgt):
        return f"translation not in {tgt}: under half its letters are in {tgt}'s script"
    return f"translation not identified as {tgt} (detected as {found or 'unknown'})"
