"""Streaming Parquet writers for train, test and quarantine, and the ingest report.

Rows are appended in chunks (one row group each), so memory stays bounded by the chunk
size; files are written under a temporary name and renamed on success. Every counter
the report holds is updated here, so accepted + quarantined = read holds by construction.
A pair accepted in an earlier chunk can be retracted (its mirror came later): on success the
pair files are rewritten once without it, a row group at a time, and it joins the quarantine
(its ``raw`` then holds the accepted pair's fields), counted there instead.
"""

from __future__ import annotations

import json
from collections import Counter, defaultdict
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from capo_pipelines.data.contract import (
    PAIR_SCHEMA,
    QUARANTINE_SCHEMA,
    pairs_table,
    quarantine_table,
)
from capo_pipelines.data.record import raw_text
from capo_pipelines.data.translation_quality import confidence_quantiles

__all__ = ["OUTPUTS", "PairSink"]

OUTPUTS = {
    "train": "train.parquet",
    "test": "test.parquet",
    "quarantine": "quarantine.parquet",
    "report": "ingest_report.json",
}


NO_LANGUAGE = "<missing>"  # report key of quarantined rows with no language
_PER_LANGUAGE = ("quarantined", "test", "train")
_RAW_FIELDS = ("prompt", "chosen", "rejected", "messages", "score_chosen", "score_rejected")


_LOW_CONFIDENCE = ("low_translation_confidence", "degenerate_translation")


def _languages(counts: dict[str, Counter[str]]) -> dict[str, dict[str, int]]:
    """Per language: train, test and quarantined rows (all three keys, sorted)."""
    return {lang: {k: c[k] for k in _PER_LANGUAGE} for lang, c in sorted(counts.items())}


class _Counts:
    def __init__(self) -> None:
        self.read = self.accepted = self.quarantined = 0
        self.reasons: Counter[str] = Counter()
        self.languages: defaultdict[str, Counter[str]] = defaultdict(Counter)

    def as_dict(self) -> dict[str, Any]:
        return {
            "read": self.read,
            "accepted": self.accepted,
            "quarantined": self.quarantined,
            "reasons": dict(sorted(self.reasons.items())),
            "languages": _languages(self.languages),
        }


class PairSink:
    """Context manager writing the ingest outputs into ``out_dir`` (names in OUTPUTS)."""

    def __init__(self, out_dir: str | Path) -> None:
        self.out_dir = Path(out_dir)
        self.sources: dict[str, _Counts] = {}
        self.meta: dict[str, dict[str, Any]] = {}
        self._writers: dict[str, pq.ParquetWriter] = {}
        self.retracted: dict[str, tuple[str, str]] = {}  # pair id -> (code, reason)
        # translated source -> (language, each pair's confidence, degenerate texts by reason)
        self.quality: dict[str, tuple[str, list[float], Counter[str]]] = {}

    def __enter__(self) -> PairSink:
        self.out_dir.mkdir(parents=True, exist_ok=True)
        for key, schema in (("train", PAIR_SCHEMA), ("test", PAIR_SCHEMA)):
            self._writers[key] = pq.ParquetWriter(self._tmp(key), schema)
        self._writers["quarantine"] = pq.ParquetWriter(self._tmp("quarantine"), QUARANTINE_SCHEMA)
        return self

    def _tmp(self, key: str) -> Path:
        return self.out_dir / f".{OUTPUTS[key]}.tmp"

    def source(self, name: str, **meta: Any) -> None:
        """Start counting a source; ``meta`` (e.g. translated_from) goes into the report."""
        self.sources.setdefault(name, _Counts())
        self.meta[name] = meta

    def write(self, name: str, accepted: Sequence[dict], quarantined: Sequence[dict]) -> None:
        """Append one chunk of a source: accepted pairs (with split) and quarantine rows."""
        counts = self.sources[name]
        counts.read += len(accepted) + len(quarantined)
        counts.accepted += len(accepted)
        counts.quarantined += len(quarantined)
        counts.reasons.update(q["code"] for q in quarantined)
        for row in accepted:
            counts.languages[row["language"]][row["split"]] += 1
        for row in quarantined:
            counts.languages[row.get("language") or NO_LANGUAGE]["quarantined"] += 1
        for split in ("train", "test"):
            rows = [r for r in accepted if r["split"] == split]
            if rows:
                self._writers[split].write_table(pairs_table(rows))
        if quarantined:
            self._writers["quarantine"].write_table(quarantine_table(quarantined))

    def translation_quality(
        self, name: str, language: str, confidences: Sequence[float], degenerate: Counter[str]
    ) -> None:
        """Record the translation_confidence of every pair a translated source produced,
        accepted or not, and how many of its texts were degenerate, by reason."""
        self.quality[name] = (language, list(confidences), Counter(degenerate))

    def _quality_report(self) -> dict[str, dict[str, Any]]:
        """Per target language: the pairs' translation_confidence quantiles, the share
        quarantined below ingest.translation.min_confidence, and the commonest degenerate
        reasons (counted in texts)."""
        merged: defaultdict[str, list] = defaultdict(lambda: [[], Counter(), Counter()])
        for name, (language, confidences, degenerate) in self.quality.items():
            entry = merged[language]
            entry[0].extend(confidences)
            entry[1].update(degenerate)
            reasons = self.sources[name].reasons
            entry[2].update({k: reasons[k] for k in _LOW_CONFIDENCE if reasons[k]})
        out = {}
        for language, (values, degenerate, low) in sorted(merged.items()):
            n = len(values)
            out[language] = {
                "pairs": n,
                **confidence_quantiles(values),
                "quarantined_low_confidence": low["low_translation_confidence"],
                "quarantined_degenerate": low["degenerate_translation"],
                "quarantined_share": round(sum(low.values()) / n, 4) if n else 0.0,
                "degenerate_reasons": dict(degenerate.most_common(5)),
            }
        return out

    def retract(self, pair_id: str, code: str, reason: str) -> None:
        """Quarantine the accepted pair ``pair_id`` after all (the first reason given stays)."""
        self.retracted.setdefault(pair_id, (code, reason))

    def _drop_retracted(self) -> None:
        """Rewrite the pair files without the retracted pairs; quarantine and count those."""
        for split in ("train", "test") if self.retracted else ():
            path = self._tmp(split)
            kept = path.with_name(f"{path.name}.kept")
            source = pq.ParquetFile(path)
            with pq.ParquetWriter(kept, PAIR_SCHEMA) as writer:
                for i in range(source.num_row_groups):
                    table = source.read_row_group(i)
                    gone = [x in self.retracted for x in table.column("id").to_pylist()]
                    if any(gone):
                        self._requarantine(table.filter(pa.array(gone)).to_pylist())
                        table = table.filter(pa.array([not g for g in gone]))
                    if table.num_rows:
                        writer.write_table(table)
            kept.replace(path)

    def _requarantine(self, pairs: list[dict[str, Any]]) -> None:
        rows = []
        for pair in pairs:
            code, reason = self.retracted[pair["id"]]
            counts = self.sources[pair["source"]]
            counts.accepted -= 1
            counts.quarantined += 1
            counts.reasons[code] += 1
            counts.languages[pair["language"]][pair["split"]] -= 1
            counts.languages[pair["language"]]["quarantined"] += 1
            fields = {k: pair[k] for k in _RAW_FIELDS if pair[k] is not None}
            rows.append(
                {"source": pair["source"], "row": pair["source_row"], "code": code}
                | {"reason": reason, "raw": raw_text(fields), "language": pair["language"]}
            )
        self._writers["quarantine"].write_table(quarantine_table(rows))

    def report(self) -> dict[str, Any]:
        """The ingest report: totals; per split; per language and per source (train, test and
        quarantined rows; per source also the quarantine reasons and languages); per target
        language of translation, the translation confidence (_quality_report)."""
        per_source = {n: {**c.as_dict(), **self.meta[n]} for n, c in self.sources.items()}
        languages: defaultdict[str, Counter[str]] = defaultdict(Counter)
        for counts in self.sources.values():
            for lang, by_split in counts.languages.items():
                languages[lang].update(by_split)
        totals = {
            k: sum(s[k] for s in per_source.values()) for k in ("read", "accepted", "quarantined")
        }
        splits = {s: sum(v[s] for v in languages.values()) for s in ("train", "test")}
        return {
            **totals,
            "splits": splits,
            "languages": _languages(languages),
            "sources": per_source,
            "translation_confidence": self._quality_report(),
        }

    def __exit__(self, exc_type: Any, *_: Any) -> None:
        failed = exc_type is not None
        try:
            for key in ("train", "test"):
                self._writers[key].close()
            if not failed:
                self._drop_retracted()
        except BaseException:
            failed = True
            raise
        finally:
            self._writers["quarantine"].close()
            if failed:
                for key in ("train", "test", "quarantine"):
                    self._tmp(key).unlink(missing_ok=True)
        if failed:
            return
        for key in ("train", "test", "quarantine"):
            self._tmp(key).replace(self.out_dir / OUTPUTS[key])
        text = json.dumps(self.report(), indent=2, sort_keys=True, ensure_ascii=False)
        (self.out_dir / OUTPUTS["report"]).write_text(text + "\n", encoding="utf-8")
