"""validate stage core: real GX suite, quarantine, gate, errored expectations, language gate.

The language rules themselves: tests/test_data_langid.py and tests/test_langid_rates.py.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
import pytest
from great_expectations.core import ExpectationValidationResult
from great_expectations.expectations.expectation_configuration import ExpectationConfiguration

from capo_pipelines.params import ParamsError, ValidateParams, parse_section
from capo_pipelines.validation import build_suite, validate_pairs
from capo_pipelines.validation.checkpoint import run_checkpoint
from capo_pipelines.validation.outcomes import collect_outcomes, exception_message
from tests.langid_data import FOREIGN_DIALOG, FRENCH_DIALOG
from tests.validate_data import LANGUAGES, clean_pairs

PARAMS = ValidateParams(languages=LANGUAGES, prompt_chars=(1, 200), max_failing_fraction=1.0)
NOT_NULL_PROMPT = "expect_column_values_to_not_be_null(prompt)"
DIFFER = "expect_column_pair_values_to_differ(chosen,rejected)"
IN_LANGUAGES = "expect_column_values_to_be_in_set(language)"
PROMPT_LENGTH = "expect_column_value_lengths_to_be_between(prompt)"
RATIO = "expect_column_pair_value_length_ratio_to_be_between(chosen,rejected)"
UNIQUE_ID = "expect_column_values_to_be_unique(id)"
LEAK = "expect_column_pair_values_to_stay_in_one_split(prompt,split)"
FINITE = "expect_column_values_to_be_between(score_chosen)"
CHOSEN_LANG = "expect_column_pair_text_to_be_in_row_language(language,chosen)"
PROMPT_LANG = "expect_column_pair_text_to_be_in_row_language(language,prompt)"
VISIBLE = "expect_column_values_to_have_visible_text({})"
NO_CONTROL = "expect_column_values_to_have_no_control_characters({})"


def _hostile() -> tuple[pd.DataFrame, dict[str, set[str]]]:
    """Clean pairs plus one broken row per expectation; returns expected failures by id."""
    df = clean_pairs()
    base = df[df["split"] == "train"].reset_index(drop=True)
    edits = {
        "null-prompt": ({"prompt": None}, {NOT_NULL_PROMPT}),
        "same": ({"rejected": base.loc[1, "chosen"]}, {DIFFER}),
        "klingon": ({"language": "tlh"}, {IN_LANGUAGES}),
        "long-prompt": ({"prompt": "Why? " * 60}, {PROMPT_LENGTH}),
        "ratio": ({"chosen": "Paris is the capital. " * 5, "rejected": "No"}, {RATIO}),
        "leak": ({"prompt": df[df["split"] == "test"].iloc[0]["prompt"]}, {LEAK}),
        "inf": ({"score_chosen": np.inf}, {FINITE}),
        "wrong-lang": ({"chosen": "Die Hauptstadt von Frankreich ist Paris."}, {CHOSEN_LANG}),
        "latin-hindi": (
            {"language": "hi", "chosen": "Paris", "rejected": "London"},
            {CHOSEN_LANG, PROMPT_LANG},
        ),
        "two-faults": ({"prompt": "Das ist eine deutsche Frage?", "rejected": "Paris"}, set()),
    }
    edits["two-faults"] = (edits["two-faults"][0], {PROMPT_LANG, DIFFER})
    rows = []
    for i, (key, (change, _)) in enumerate(edits.items()):
        rows.append({**base.loc[i % 2].to_dict(), "id": key, **change})  # English rows 0/1
    rows[-1]["chosen"] = "Paris"
    dupes = [{**base.loc[1].to_dict(), "id": "dupe"} for _ in range(2)]
    hostile = pd.concat([df, pd.DataFrame(rows + dupes)], ignore_index=True)
    expected = {key: names for key, (_, names) in edits.items()} | {"dupe": {UNIQUE_ID}}
    return hostile, expected


@pytest.fixture(scope="module")
def hostile_run():
    df, expected = _hostile()
    return df, expected, validate_pairs(df, PARAMS)


def test_clean_pairs_pass_every_expectation():
    run = validate_pairs(clean_pairs(), PARAMS)
    assert run.gate.passed, run.gate.summary()
    assert run.quarantined.empty and len(run.accepted) == len(clean_pairs())
    assert all(o.passed for o in run.outcomes)
    assert {o.name for o in run.outcomes} >= {DIFFER, LEAK, CHOSEN_LANG, FINITE, UNIQUE_ID}
    assert {s: len(f) for s, f in run.accepted_splits().items()} == {"train": 18, "test": 9}


def test_hostile_rows_reconcile_and_name_their_failures(hostile_run):
    df, expected, run = hostile_run
    assert len(df) == len(run.accepted) + len(run.quarantined)
    assert run.gate.counts == {
        "read": len(df),
        "accepted": len(run.accepted),
        "quarantined": len(run.quarantined),
    }
    got = run.quarantined.groupby("id")["failed_expectations"].first().map(set).to_dict()
    assert got == expected  # exactly the broken rows, each with exactly its failures
    assert set(run.accepted["id"]).isdisjoint(expected)
    assert set(run.accepted["id"]) | set(run.quarantined["id"]) == set(df["id"])


def test_hostile_metrics_report_each_expectation_and_language(hostile_run):
    _, _, run = hostile_run
    metrics = run.metrics()
    assert metrics["expectations"][DIFFER] == {"success": False, "unexpected": 2}
    assert metrics["errored_expectations"] == []
    assert metrics["expectations"]["expect_table_row_count_to_be_between"]["success"] is True
    assert metrics["languages"]["tlh"] == {"rows": 1, "quarantined": 1, "pass_rate": 0.0}
    assert metrics["languages"]["fr"] == {"rows": 3, "quarantined": 0, "pass_rate": 1.0}
    assert 0.0 < metrics["languages"]["en"]["pass_rate"] < 1.0


def test_wrong_language_answers_are_quarantined_whatever_the_label_noise():
    df = clean_pairs()
    hindi = df.index[df["language"] == "hi"][:2]
    df.loc[hindi, "chosen"] = "Paris"  # an answer in another language than the row's
    df.loc[hindi[0], "label_flipped"] = True  # benchmark ground truth: never consulted
    run = validate_pairs(df, PARAMS)
    assert sorted(run.quarantined["id"]) == sorted(df.loc[hindi, "id"])


def test_gate_fails_when_a_language_exceeds_the_threshold():
    df, _ = _hostile()
    params = dataclasses.replace(PARAMS, max_failing_fraction=0.2, min_language_rows=1)
    run = validate_pairs(df, params)
    assert not run.gate.passed
    summary = run.gate.summary()
    assert summary.startswith("validation failed:")
    assert "language en:" in summary and "max_failing_fraction 20.0%" in summary
    assert "language de:" not in summary  # German rows are all clean
    assert CHOSEN_LANG in summary  # the most-failed expectations are named


def test_table_level_failure_fails_the_gate_even_with_no_bad_rows():
    df = clean_pairs().drop(columns=["source"])
    run = validate_pairs(df, PARAMS)
    assert not run.gate.passed
    assert any(
        "table-level expectation failed: expect_table_columns_to_match_set" in p
        for p in run.gate.problems
    )


def test_errored_expectation_is_an_error_never_a_pass():
    df = clean_pairs()
    df["score_chosen"] = "high"  # text scores: comparing them with numbers raises inside GX
    run = validate_pairs(df, PARAMS)
    errored = [o for o in run.outcomes if o.error is not None]
    assert [o.name for o in errored] == [FINITE]
    assert not errored[0].passed and not run.metrics()["expectations"][FINITE]["success"]
    assert run.metrics()["errored_expectations"] == [FINITE]
    assert not run.gate.passed
    assert any(
        p.startswith(f"expectation errored (counts as failed): {FINITE}") for p in run.gate.problems
    )
    assert (
        "table-level expectation failed: expect_column_values_to_be_in_type_list(score_chosen)"
        in run.gate.problems
    )


def test_non_text_column_fails_the_gate_as_a_whole():
    df = clean_pairs()
    df["rejected"] = np.arange(len(df))  # ints pass GX's length check, not the type check
    run = validate_pairs(df, PARAMS)
    name = "expect_column_values_to_be_of_type(rejected)"
    assert run.metrics()["expectations"][name]["success"] is False
    assert f"{name} failed for the column as a whole (no rows to quarantine)" in run.gate.problems


def test_outcome_with_exception_info_never_passes_even_if_gx_says_success():
    config = ExpectationConfiguration(
        type="expect_column_values_to_not_be_null",
        kwargs={"column": "x"},
        meta={"capo_name": "nn(x)"},
    )
    nested = {"MetricConfigurationID(x)": {"raised_exception": True, "exception_message": "boom"}}
    for info in ({"raised_exception": True, "exception_message": "boom"}, nested):
        result = ExpectationValidationResult(
            success=True, expectation_config=config, exception_info=info, result={}
        )
        (outcome,) = collect_outcomes(type("R", (), {"results": [result]})())
        assert outcome.error == "boom" and not outcome.passed and not outcome.success
    assert exception_message({"raised_exception": False, "exception_message": None}) is None


def test_missing_column_expectation_reports_exception_info_through_real_gx():
    suite = build_suite(PARAMS, ["score_chosen"])
    result = run_checkpoint(clean_pairs().drop(columns=["score_chosen"]), suite)
    (finite,) = [r for r in result.results if r.expectation_config.meta["capo_name"] == FINITE]
    assert finite.success is False and exception_message(finite.exception_info)


def test_french_dialog_passes_the_gate_and_foreign_lines_are_quarantined():
    """Names (Richard Nixon), short answers (Rien de special.) and accent-less prompts pass;
    lines confidently in another language (or another script) are quarantined."""
    rows = [("fr", p, a, "Je ne sais pas.") for p, a in FRENCH_DIALOG]
    rows += [("fr", p, a, "Je ne sais pas.") for _, p, a in FOREIGN_DIALOG]
    df = pd.DataFrame(rows, columns=["language", "prompt", "chosen", "rejected"])
    df["rejected"] = df["rejected"] + df.index.astype(str)  # chosen != rejected, unique ids
    df = df.assign(id=[f"d{i}" for i in range(len(df))], source="dialog", split="train")
    run = validate_pairs(df, dataclasses.replace(PARAMS, length_ratio=(0.01, 100.0)))
    assert sorted(run.quarantined["id"]) == sorted(df["id"][len(FRENCH_DIALOG) :])
    names = {n for names in run.quarantined["failed_expectations"] for n in names}
    assert names <= {CHOSEN_LANG, PROMPT_LANG}


def test_langid_confidence_param_tightens_the_gate():
    df = clean_pairs()
    german = df.index[df["language"] == "de"][0]
    df.loc[german, "chosen"] = "A spider has eight legs."  # lingua: en 0.65, de 0.26
    assert validate_pairs(df, PARAMS).quarantined.empty
    strict = validate_pairs(df, dataclasses.replace(PARAMS, langid_confidence=0.6))
    assert strict.quarantined["id"].tolist() == [df.loc[german, "id"]]
    with pytest.raises(ParamsError, match="langid_confidence"):
        parse_section(ValidateParams, {"langid_confidence": 0.5}, "params.validate")


def test_validate_params_parse_and_reject_bad_bounds():
    parsed = parse_section(
        ValidateParams, {"languages": ["en", "de"], "length_ratio": [0.1, 10]}, "params.validate"
    )
    assert parsed.languages == ("en", "de") and parsed.length_ratio == (0.1, 10.0)
    with pytest.raises(ParamsError, match="prompt_chars"):
        parse_section(ValidateParams, {"prompt_chars": [10, 1]}, "params.validate")
    with pytest.raises(ParamsError, match=r"params\.validate\.typo"):
        parse_section(ValidateParams, {"typo": 1}, "params.validate")


def _edited(edits: dict[str, dict[str, str]]) -> pd.DataFrame:
    """Clean pairs plus one English training row per edit, its id the edit's key."""
    df = clean_pairs()
    base = df[(df["language"] == "en") & (df["split"] == "train")].reset_index(drop=True)
    rows = [
        {**base.loc[i % 2].to_dict(), "id": key, **e} for i, (key, e) in enumerate(edits.items())
    ]
    return pd.concat([df, pd.DataFrame(rows)], ignore_index=True)


def test_invisible_text_fails_as_an_empty_text_does():
    """Zero-width and other format characters (Cf) with whitespace render as nothing: such a
    text fails the check an empty text fails; a joiner inside visible text is fine."""
    edits = {
        "zw-prompt": {"prompt": "\u200b\u200c\u200d"},
        "zw-chosen": {"chosen": "\u2060 \ufeff\u00ad"},
        "zw-rejected": {"rejected": "\u200b"},
        "empty-rejected": {"rejected": ""},
        "joiner-inside": {"chosen": "The capital of\u200d France is Paris."},
    }
    run = validate_pairs(_edited(edits), PARAMS)
    got = run.quarantined.groupby("id")["failed_expectations"].first().map(set).to_dict()
    assert {k: v for k, v in got.items() if k != "empty-rejected"} == {
        "zw-prompt": {VISIBLE.format("prompt")},
        "zw-chosen": {VISIBLE.format("chosen")},
        "zw-rejected": {VISIBLE.format("rejected")},
    }
    assert VISIBLE.format("rejected") in got["empty-rejected"]  # the reason they share
    assert "joiner-inside" in set(run.accepted["id"])
    assert run.metrics()["expectations"][VISIBLE.format("rejected")]["unexpected"] == 2


def test_control_characters_are_quarantined_naming_the_field():
    """C0 controls but tab and line breaks, DEL and C1 controls fail; tab, LF, CR pass."""
    edits = {
        "nul": {"chosen": "The capital of France\x00 is Paris."},
        "bel": {"prompt": "What is the capital of France?\x07"},
        "del": {"rejected": "It is\x7f London."},
        "c1": {"chosen": "\u201cThe capital of France is Paris.\x94"},
        "whitespace": {"prompt": "What is\tthe capital\r\nof France?\n"},
    }
    run = validate_pairs(_edited(edits), PARAMS)
    got = run.quarantined.groupby("id")["failed_expectations"].first().map(set).to_dict()
    assert got == {
        "nul": {NO_CONTROL.format("chosen")},
        "bel": {NO_CONTROL.format("prompt")},
        "del": {NO_CONTROL.format("rejected")},
        "c1": {NO_CONTROL.format("chosen")},
    }
    assert "whitespace" in set(run.accepted["id"])
    assert run.metrics()["expectations"][NO_CONTROL.format("chosen")]["unexpected"] == 2


def _one_russian_row_labelled_de() -> pd.DataFrame:
    """The clean pairs without German, plus one Russian pair labelled de: the only de row."""
    df = clean_pairs()
    russian = df[(df["language"] == "ru") & (df["split"] == "train")].iloc[0]
    mislabelled = {**russian.to_dict(), "language": "de", "id": "ru-as-de"}
    return pd.concat([df[df["language"] != "de"], pd.DataFrame([mislabelled])], ignore_index=True)


def test_a_language_under_min_language_rows_is_not_gated_alone():
    """1 of 1 de rows quarantined is 100%, but one row is no rate: under the floor the
    language counts only in the overall share (1/25 = 4% <= 5%), and the report says so."""
    df = _one_russian_row_labelled_de()
    params = dataclasses.replace(PARAMS, max_failing_fraction=0.05)
    assert params.min_language_rows == 20  # the default
    run = validate_pairs(df, params)
    assert run.quarantined["id"].tolist() == ["ru-as-de"]
    assert run.gate.passed, run.gate.summary()
    floor = run.metrics()["language_floor"]
    assert floor["min_language_rows"] == 20 and "de" in floor["not_gated_alone"]
    assert "not gated alone" in run.gate.summary() and "de" in run.gate.summary()
    gated = validate_pairs(df, dataclasses.replace(params, min_language_rows=1))
    assert not gated.gate.passed
    assert "language de: 1/1 rows (100.0%) quarantined" in gated.gate.summary()
    assert gated.metrics()["language_floor"]["not_gated_alone"] == []
    # the rows still count in the overall share: 1/25 = 4% > 3% fails all languages
    strict = validate_pairs(df, dataclasses.replace(params, max_failing_fraction=0.03))
    assert not strict.gate.passed
    assert [p.split(":")[0] for p in strict.gate.problems] == ["all languages"]
    with pytest.raises(ParamsError, match=r"params\.validate\.min_language_rows"):
        parse_section(ValidateParams, {"min_language_rows": -1}, "params.validate")
