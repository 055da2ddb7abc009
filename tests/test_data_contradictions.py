"""Rows that parse but cannot be trained on as given: scores beyond float32, answers in the
wrong role, and one comparison given twice with its answers swapped. Each is quarantined with
a reason naming the field, the role or the other row, and counted in the ingest report."""

from __future__ import annotations

import json

import pyarrow.parquet as pq

from capo_pipelines.data import run_ingest
from capo_pipelines.params import BenchmarkParams, IngestParams, SourceParams


def ingest(tmp_path, rows: list[dict], **kw):
    """Ingest ``rows`` as one English JSONL source "s"; (report, pairs, quarantine by row)."""
    report, accepted, quarantine = ingest_sources(tmp_path, {"s": rows}, language="en", **kw)
    return report, accepted, {q["row"]: q for q in quarantine}


def ingest_sources(tmp_path, sources: dict[str, list[dict]], language: str | None = None, **kw):
    """Ingest each list of rows as a JSONL source of that name; (report, pairs, quarantine)."""
    tmp_path.mkdir(parents=True, exist_ok=True)
    specs = []
    for name, rows in sources.items():
        path = tmp_path / f"{name}.jsonl"
        path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows))
        specs.append(SourceParams(name=name, path=str(path), language=language))
    params = IngestParams(benchmark=BenchmarkParams(enabled=False), sources=tuple(specs), **kw)
    report = run_ingest(params, seed=0, out_dir=tmp_path / "out")
    out = {k: pq.read_table(tmp_path / "out" / f"{k}.parquet").to_pylist() for k in OUTS}
    return report, out["train"] + out["test"], out["quarantine"]


OUTS = ("train", "test", "quarantine")


def pair(i: int, **fields) -> dict:
    return {"prompt": f"Which number follows {i}?", "chosen": f"{i + 1}", "rejected": "0", **fields}


def test_scores_beyond_float32_are_quarantined_naming_the_field(tmp_path):
    rows = [
        pair(1, score_chosen=1e308, score_rejected=1.0),  # finite in float64 only
        pair(2, score_chosen=2.0, score_rejected=-1e308),
        pair(3, score_chosen=4e38, score_rejected=1.0),  # just past float32's 3.4e38
        pair(4, score_chosen=10**400, score_rejected=1),  # an integer beyond float64
        pair(5, score_chosen=3e38, score_rejected=-3e38),  # within float32: kept
        pair(6, score_chosen="1e308", score_rejected="0.5"),  # numbers given as text
    ]
    report, accepted, quarantine = ingest(tmp_path, rows)
    fields = {1: "score_chosen", 2: "score_rejected", 3: "score_chosen", 4: "score_chosen"}
    fields[6] = "score_chosen"
    assert {r: (q["code"], q["field"]) for r, q in quarantine.items()} == {
        r: ("score_out_of_range", f) for r, f in fields.items()
    }
    assert "1e+308" in quarantine[1]["reason"] and "float32" in quarantine[1]["reason"]
    assert "score_rejected is -1e+308" in quarantine[2]["reason"]
    assert [(p["source_row"], p["score_chosen"]) for p in accepted] == [(5, 3e38)]
    assert report["sources"]["s"]["reasons"] == {"score_out_of_range": 5}
    assert report["languages"]["en"]["quarantined"] == 5


def turn(role: str, content: str) -> dict[str, str]:
    return {"role": role, "content": content}


SYSTEM, ASK = turn("system", "Answer in one word."), turn("user", "Which day follows Monday?")
GOOD, BAD = turn("assistant", "Tuesday."), turn("assistant", "Friday.")
THEN = turn("user", "And after that?")


def conv(prompt, chosen, rejected) -> dict:
    return {"prompt": prompt, "chosen": chosen, "rejected": rejected}


# (conversational row, expected (code, field) or None when accepted), row numbers from 1
EXPLICIT: list[tuple[dict, tuple[str, str] | None]] = [
    (conv([ASK], [GOOD], [BAD]), None),
    (conv([SYSTEM, ASK], [GOOD], [BAD]), None),
    (conv([ASK, GOOD, THEN], [turn("assistant", "Wednesday.")], [BAD]), None),
    (conv("Which day follows Sunday?", [turn("assistant", "Monday.")], [BAD]), None),
    (conv([ASK], [turn("user", "Tuesday?")], [BAD]), ("wrong_role", "chosen")),
    (conv([ASK], [GOOD], [turn("system", "Friday?")]), ("wrong_role", "rejected")),
    (conv([ASK], [GOOD, turn("user", "Thanks")], [BAD]), ("wrong_role", "chosen")),
    (conv([ASK, turn("assistant", "Let me see.")], [GOOD], [BAD]), ("wrong_role", "prompt")),
]
# TRL's implicit prompt: the turns chosen and rejected share are the prompt
IMPLICIT: list[tuple[dict, tuple[str, str] | None]] = [
    ({"chosen": [ASK, GOOD], "rejected": [ASK, BAD]}, None),
    ({"chosen": [SYSTEM, ASK, GOOD], "rejected": [SYSTEM, ASK, BAD]}, None),
    ({"chosen": [ASK, GOOD], "rejected": [ASK, turn("user", "Fri.")]}, ("wrong_role", "rejected")),
]


def test_answers_that_are_not_assistant_turns_are_quarantined_naming_the_role(tmp_path):
    for name, table in (("explicit", EXPLICIT), ("implicit", IMPLICIT)):
        report, accepted, quarantine = ingest(tmp_path / name, [r for r, _ in table])
        expected = {i: want for i, (_, want) in enumerate(table, 1) if want}
        assert {r: (q["code"], q["field"]) for r, q in quarantine.items()} == expected, name
        assert len(accepted) == len(table) - len(expected)
        assert report["sources"]["s"]["reasons"] == {"wrong_role": len(expected)}
        assert report["languages"]["en"]["quarantined"] == len(expected)
    _, _, explicit = ingest(tmp_path / "again", [r for r, _ in EXPLICIT])
    assert "chosen has a 'user' turn" in explicit[5]["reason"]
    assert "rejected has a 'system' turn" in explicit[6]["reason"]
    assert "chosen has a 'user' turn" in explicit[7]["reason"]
    assert "prompt ends with an 'assistant' turn" in explicit[8]["reason"]
    assert "rejected has a 'user' turn" in quarantine[3]["reason"]  # the implicit table's


def _template_ids(tokenizer, messages: list[dict[str, str]]) -> list[int]:
    out = tokenizer.apply_chat_template(messages, tokenize=True, return_dict=True)
    return list(out["input_ids"])


def assert_prompts_are_prefixes(tokenizer, pairs) -> int:
    """Per conversational pair, the tokenised prompt (with the generation prompt, as TRL
    renders it) is a prefix of the tokenised prompt + chosen and prompt + rejected."""
    import pandas as pd

    from capo_pipelines.models.chat import pair_examples, prompt_ids

    examples = [e for e in pair_examples(pd.DataFrame(pairs)) if isinstance(e["prompt"], list)]
    for example in examples:
        prompt = prompt_ids(tokenizer, example["prompt"])
        for answer in ("chosen", "rejected"):
            full = _template_ids(tokenizer, example["prompt"] + example[answer])
            assert full[: len(prompt)] == prompt and len(full) > len(prompt), (answer, example)
    return len(examples)


def test_every_accepted_conversation_renders_its_prompt_as_a_prefix(tmp_path, tiny_tokenizer):
    from capo_pipelines.models.chat import prompt_ids

    for name, table in (("explicit", EXPLICIT), ("implicit", IMPLICIT)):
        rows = [r for r, _ in table]
        _, accepted, _ = ingest(tmp_path / name, rows, chat_format="messages")
        assert assert_prompts_are_prefixes(tiny_tokenizer, accepted) == len(accepted) > 0
    # what the role check keeps out: a user-turn "answer" does not continue the prompt
    user_answer = EXPLICIT[4][0]
    prompt = prompt_ids(tiny_tokenizer, user_answer["prompt"])
    full = _template_ids(tiny_tokenizer, user_answer["prompt"] + user_answer["chosen"])
    assert full[: len(prompt)] != prompt


def mirror(row: dict) -> dict:
    return {**row, "chosen": row["rejected"], "rejected": row["chosen"]}


def test_a_mirror_pair_quarantines_both_rows_across_chunks(tmp_path):
    a = pair(1, language="en")
    de = {"prompt": "Welche Zahl folgt auf 1?", "chosen": "2", "rejected": "0", "language": "de"}
    rows = [
        a,  # row 1
        pair(2, language="en"),
        de,  # row 3
        mirror(a),  # row 4: contradicts row 1, in the next chunk
        {**a, "rejected": "7"},  # same prompt and chosen, another rejected: no contradiction
        mirror(de),  # row 6: contradicts row 3, in the third chunk
        mirror(a),  # row 7: contradicts row 1 again
        {**mirror(a), "language": "de"},  # the same texts in another language: no contradiction
    ]
    report, accepted, quarantine = ingest_sources(tmp_path, {"s": rows}, chunk_rows=2)
    got = {q["row"]: (q["code"], q["language"], q["reason"]) for q in quarantine}
    assert sorted(got) == [1, 3, 4, 6, 7] and {c for c, _, _ in got.values()} == {"mirror_pair"}
    assert got[1][1:] == ("en", f"mirror of s row 4{_SWAPPED}")
    assert got[4][2].startswith("mirror of s row 1 (pair ") and got[4][2].endswith(_SWAPPED)
    assert got[7][2] == got[4][2]  # the first row is quarantined once, named by both
    assert got[3][1:] == ("de", f"mirror of s row 6{_SWAPPED}") and "s row 3" in got[6][2]
    assert sorted(p["source_row"] for p in accepted) == [2, 5, 8]
    raw = json.loads(next(q["raw"] for q in quarantine if q["row"] == 1))
    assert (raw["prompt"], raw["chosen"], raw["rejected"]) == (a["prompt"], "2", "0")
    src = report["sources"]["s"]
    assert (src["read"], src["accepted"], src["quarantined"]) == (8, 3, 5)
    assert src["reasons"] == {"mirror_pair": 5}
    assert {k: v["quarantined"] for k, v in src["languages"].items()} == {"de": 2, "en": 3}
    assert report["languages"]["en"]["train"] + report["languages"]["en"]["test"] == 2
    assert report["splits"]["train"] + report["splits"]["test"] == 3 == report["accepted"]


def test_a_mirror_in_another_source_names_its_source(tmp_path):
    a, b = pair(1), pair(2)
    sources = {"first": [a, b], "second": [pair(3), mirror(b)]}
    report, accepted, quarantine = ingest_sources(tmp_path, sources, language="en")
    got = {(q["source"], q["row"]): q["reason"] for q in quarantine}
    assert got.keys() == {("first", 2), ("second", 2)}
    assert got["first", 2] == f"mirror of second row 2{_SWAPPED}"
    assert got["second", 2].startswith("mirror of first row 2 (pair ")
    assert sorted((p["source"], p["source_row"]) for p in accepted) == [("first", 1), ("second", 1)]
    for name in ("first", "second"):
        counts = report["sources"][name]
        assert (counts["accepted"], counts["quarantined"], counts["reasons"]) == (
            1,
            1,
            {"mirror_pair": 1},
        )
        assert counts["languages"]["en"]["quarantined"] == 1


_SWAPPED = ": same language and prompt, chosen and rejected swapped"
