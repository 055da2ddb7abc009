"""Hostile input: every row is accepted or quarantined with its reason; whole-file faults stop
the run with one clear error that names the file (and row and column where there is one)."""

from __future__ import annotations

import json

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from capo.errors import CapoError
from capo_pipelines.data import run_ingest
from capo_pipelines.params import BenchmarkParams, IngestParams, SourceParams

OK = {"prompt": "Which day comes after Monday?", "chosen": "Tuesday", "rejected": "Friday"}


def ingest(tmp_path, *sources: SourceParams, **kw):
    params = IngestParams(
        benchmark=BenchmarkParams(enabled=False), sources=sources, max_row_chars=500, **kw
    )
    report = run_ingest(params, seed=0, out_dir=tmp_path / "out")
    quarantine = pq.read_table(tmp_path / "out" / "quarantine.parquet").to_pylist()
    return report, {q["row"]: q for q in quarantine}


def line(**fields) -> bytes:
    return json.dumps({**OK, "language": "en", **fields}, ensure_ascii=False).encode()


# row number -> (raw JSONL line, expected quarantine code or None when accepted)
JSONL_ROWS: list[tuple[bytes, str | None]] = [
    (b"\xef\xbb\xbf" + line(), None),  # byte-order mark on the first line
    (b'{"prompt": "Which day", "chosen": "Tu', "invalid_json"),  # truncated record
    (line(chosen="Diens")[:-2] + b"\xff\xfe" + b'"}', "invalid_utf8"),
    (line(prompt="Welcher Tag?", language="de") + b"\r", None),  # CRLF line end
    (line(prompt=""), "empty_text"),
    (line(chosen="  \t \n"), "empty_text"),
    (line(prompt=42), "wrong_type"),
    (json.dumps({"prompt": "p", "chosen": "c", "language": "en"}).encode(), "missing_field"),
    (line(prompt="NaN day?", score_chosen=float("nan"), score_rejected=1.0), "nan_score"),
    (line(prompt="str score?", score_chosen="high", score_rejected=1.0), "wrong_type"),
    (line(prompt="one score?", score_chosen=3.0), "incomplete_scores"),
    (line(prompt="klingon?", language="tlh-Latn"), "unknown_language"),
    (line(prompt="latin?", language="la"), "unknown_language"),  # valid code, not configured
    (line(prompt="long " * 200), "row_too_large"),
    (b'["a", "list"]', "not_an_object"),
    (line(), "duplicate"),  # exact duplicate of row 1 (after BOM removal)
    (line(prompt="same?", rejected="Tuesday"), "chosen_equals_rejected"),
    (line(prompt=None), "empty_text"),
    (line(prompt=[{"role": "user", "content": 7}]), "wrong_type"),
    (line(prompt=[{"role": "user", "content": "Hi, which day follows Monday?"}]), None),
    (
        line(
            prompt="Which day comes before Friday?",
            rejected="Friday",
            score_chosen=2,
            score_rejected=1,
        ),
        None,
    ),
    (b'{"prompt": "cut off at the end", "chosen": "x", "rejec', "invalid_json"),
]


def test_hostile_jsonl_every_row_accounted_for(tmp_path):
    path = tmp_path / "hostile.jsonl"
    path.write_bytes(
        b"\n".join(raw for raw, _ in JSONL_ROWS[:-1]) + b"\n\n  \n" + JSONL_ROWS[-1][0]
    )
    report, quarantine = ingest(tmp_path, SourceParams(name="h", path=str(path)))
    # blank lines (after the second-to-last row) are not records: the last record is line 24
    expected = {i: code for i, (_, code) in enumerate(JSONL_ROWS, 1) if code}
    expected[len(JSONL_ROWS) + 2] = expected.pop(len(JSONL_ROWS))
    assert {row: q["code"] for row, q in quarantine.items()} == expected
    src = report["sources"]["h"]
    assert src["read"] == len(JSONL_ROWS)
    assert src["accepted"] + src["quarantined"] == src["read"]
    assert src["accepted"] == sum(code is None for _, code in JSONL_ROWS)
    assert quarantine[7]["field"] == "prompt" and "int" in quarantine[7]["reason"]
    assert quarantine[3]["field"] is None and "byte" in quarantine[3]["reason"]
    train = pq.read_table(tmp_path / "out" / "train.parquet").to_pylist()
    test = pq.read_table(tmp_path / "out" / "test.parquet").to_pylist()
    accepted = {r["prompt"]: r for r in train + test}
    assert "Welcher Tag?" in accepted and accepted["Welcher Tag?"]["language"] == "de"
    assert all("\r" not in r["prompt"] + r["chosen"] for r in accepted.values())
    assert not any(r["prompt"].startswith("\ufeff") for r in accepted.values())


def test_hostile_csv(tmp_path):
    path = tmp_path / "hostile.csv"
    rows = [
        b"\xef\xbb\xbfprompt,chosen,rejected,score_chosen,score_rejected,language",
        b"Which day comes after Monday?,Tuesday,Friday,9,2,en",  # 1 ok
        b'"Which day comes\r\nafter Sunday?",Monday,Friday,,,en',  # 2 ok, quoted CRLF inside
        b"too,few,fields",  # 3
        b"Welcher Tag?,Diens\xfftag,Freitag,9,2,de",  # 4 invalid UTF-8
        b"Which month?,May,June,nan,2,en",  # 5 NaN score
        b"Which year?,   ,2020,9,2,en",  # 6 whitespace-only chosen
        b"Which colour?,red,blue,9,2,xx",  # 7 unknown language code
        b"Which day comes after Monday?,Tuesday,Friday,9,2,en",  # 8 duplicate of 1
        b"Which planet?,Mars,Venus,high,2,en",  # 9 score is not a number
    ]
    path.write_bytes(b"\r\n".join(rows) + b"\r\n")
    report, quarantine = ingest(tmp_path, SourceParams(name="c", path=str(path)))
    codes = {row: q["code"] for row, q in quarantine.items()}
    assert codes == {
        3: "bad_csv_row",
        4: "invalid_utf8",
        5: "nan_score",
        6: "empty_text",
        7: "unknown_language",
        8: "duplicate",
        9: "wrong_type",
    }
    assert report["read"] == 9 and report["accepted"] == 2
    assert report["accepted"] + report["quarantined"] == report["read"]


def test_hostile_parquet_types_and_nulls(tmp_path):
    table = pa.table(
        {
            "prompt": ["Which day comes after Monday?", None, "Which month follows May?", "x?"],
            "chosen": ["Tuesday", "Tuesday", "June", "y"],
            "rejected": ["Friday", "Friday", "July", "z"],
            "score_chosen": [9.0, 1.0, float("nan"), None],
            "score_rejected": [1.0, 1.0, 2.0, None],
            "language": ["en", "en", "en", "en-GB"],
        }
    )
    path = tmp_path / "h.parquet"
    pq.write_table(table, path)
    report, quarantine = ingest(tmp_path, SourceParams(name="p", path=str(path)))
    assert {r: q["code"] for r, q in quarantine.items()} == {2: "empty_text", 3: "nan_score"}
    assert report["accepted"] == 2 and report["read"] == 4


def test_json_array_with_non_objects(tmp_path):
    path = tmp_path / "h.json"
    path.write_text(json.dumps([{**OK, "language": "en"}, "oops", {**OK, "language": "de"}]))
    report, quarantine = ingest(tmp_path, SourceParams(name="j", path=str(path)))
    assert {r: q["code"] for r, q in quarantine.items()} == {2: "not_an_object"}
    assert report["accepted"] == 2


@pytest.mark.parametrize(
    ("name", "content", "match"),
    [
        ("cut.json", b'[{"prompt": "a", "chosen": "b"', r"cut\.json: invalid JSON at line 1"),
        ("obj.json", b'{"prompt": "a"}', r"obj\.json: expected a JSON array"),
        ("cut.parquet", b"PAR1\x00\x00garbage", r"cut\.parquet: unreadable Parquet"),
        (
            "cut.csv",
            b'prompt,chosen,rejected\n"a,b',
            r"cut\.csv: row 2: unreadable CSV: unexpected end",
        ),
        ("dup.csv", b"prompt,chosen,prompt\na,b,c\n", r"dup\.csv: row 0 \(header\): duplicate"),
        ("data.txt", b"prompt\tchosen", r"data\.txt: unknown file type"),
    ],
)
def test_whole_file_faults_stop_with_a_clear_error(tmp_path, name, content, match):
    path = tmp_path / name
    path.write_bytes(content)
    with pytest.raises(CapoError, match=match):
        ingest(tmp_path, SourceParams(name="s", path=str(path)))


def test_misnamed_column_names_file_row_and_column(tmp_path):
    path = tmp_path / "m.jsonl"
    path.write_text(json.dumps({"question": "q", "chosen": "a", "rejected": "b"}) + "\n")
    with pytest.raises(CapoError, match=r"m\.jsonl: row 1: missing column 'prompt'.*question"):
        ingest(tmp_path, SourceParams(name="m", path=str(path), language="en"))
    csv = tmp_path / "m.csv"
    csv.write_text("prompt,chosen,rejected\nq,a,b\n")
    mapped = SourceParams(name="m", path=str(csv), language="en", columns={"prompt": "question"})
    with pytest.raises(CapoError, match=r"m\.csv: row 1: missing column 'question' for prompt"):
        ingest(tmp_path, mapped)


def test_missing_file_and_bad_source_language(tmp_path):
    with pytest.raises(CapoError, match=r"nope\.jsonl: source 'x': file not found"):
        ingest(tmp_path, SourceParams(name="x", path=str(tmp_path / "nope.jsonl")))
    with pytest.raises(CapoError, match=r"ingest\.sources\.x\.language: unknown language"):
        ingest(tmp_path, SourceParams(name="x", path="a.jsonl", language="qq"))


INVISIBLE = "\u200b\u200c \u200d\u2060\ufeff\u00ad\u2063"  # zero-width and other Cf, a space


@pytest.mark.parametrize("field", ["prompt", "chosen", "rejected"])
def test_invisible_text_is_quarantined_as_empty_text(tmp_path, field):
    """A text of zero-width/format characters (category Cf) and whitespace only is visually
    empty: quarantined as empty_text, as "" is; visible text with a joiner inside is kept."""
    path = tmp_path / "invisible.jsonl"
    rows = [
        line(**{field: INVISIBLE}),
        line(**{field: "\u200b"}),
        line(prompt="", chosen="Tue"),  # empty: the reason the invisible rows must share
        line(prompt="Which day\u200d comes after Monday?"),  # ZWJ inside visible text
        line(prompt="भारत की राजधानी क्या है?", chosen="नई दिल्\u200cली", language="hi"),  # ZWNJ
    ]
    path.write_bytes(b"\n".join(rows) + b"\n")
    report, quarantine = ingest(tmp_path, SourceParams(name="z", path=str(path)))
    assert {r: (q["code"], q["field"]) for r, q in quarantine.items()} == {
        1: ("empty_text", field),
        2: ("empty_text", field),
        3: ("empty_text", "prompt"),
    }
    assert "invisible" in quarantine[1]["reason"]
    assert report["sources"]["z"]["reasons"] == {"empty_text": 3}
    assert report["accepted"] == 2


def test_control_characters_are_quarantined_naming_field_and_code_point(tmp_path):
    """C0 controls other than tab and line breaks, DEL and C1 controls: quarantined as
    control_character, the reason naming the text and each code point; tab, LF and CRLF stay."""
    path = tmp_path / "controls.jsonl"
    rows = [
        line(chosen="Tues\x00day"),  # NUL
        line(prompt="Which day comes after Monday?\x07"),  # BEL
        line(rejected="Fri\x7fday"),  # DEL
        line(chosen="Tue\x1bday", rejected="Fri\x1bday"),  # ESC in both: the first is named
        line(chosen="\u201cTuesday\x94"),  # C1 (a cp1252 quote read as latin-1)
        line(prompt="Which day\tcomes after\r\nMonday?"),  # tab, CRLF: fine
        line(prompt="Which day comes after Tuesday?\n", chosen="Wednesday\t"),
    ]
    path.write_bytes(b"\n".join(rows) + b"\n")
    report, quarantine = ingest(tmp_path, SourceParams(name="c", path=str(path)))
    assert {r: (q["code"], q["field"]) for r, q in quarantine.items()} == {
        1: ("control_character", "chosen"),
        2: ("control_character", "prompt"),
        3: ("control_character", "rejected"),
        4: ("control_character", "chosen"),
        5: ("control_character", "chosen"),
    }
    assert "U+0000" in quarantine[1]["reason"] and "U+0007" in quarantine[2]["reason"]
    assert "U+007F" in quarantine[3]["reason"] and "U+0094" in quarantine[5]["reason"]
    assert "\x00" not in quarantine[1]["reason"]  # the reason is readable text
    assert report["sources"]["c"]["reasons"] == {"control_character": 5}
    assert report["accepted"] == 2
