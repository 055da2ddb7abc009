"""reports/validation.json counts rows and quarantine per language and per source, and the
validated quarantine keeps each row's language, source and source row."""

from __future__ import annotations

from capo_pipelines.params import ValidateParams
from capo_pipelines.validation import validate_pairs
from tests.validate_data import LANGUAGES, clean_pairs

PARAMS = ValidateParams(languages=LANGUAGES, prompt_chars=(1, 200), max_failing_fraction=1.0)


def test_metrics_count_per_source_and_language():
    df = clean_pairs()
    df["source_row"] = range(1, len(df) + 1)
    web = df.index[df["language"].isin(["de", "fr"])]
    df.loc[web, "source"] = "web"
    bad = web[0]
    df.loc[bad, "rejected"] = df.loc[bad, "chosen"]  # chosen == rejected: quarantined
    run = validate_pairs(df, PARAMS)
    metrics = run.metrics()
    hand = len(df) - len(web)
    assert metrics["sources"] == {
        "hand": {"rows": hand, "quarantined": 0, "pass_rate": 1.0},
        "web": {"rows": len(web), "quarantined": 1, "pass_rate": round(1 - 1 / len(web), 6)},
    }
    lang = df.loc[bad, "language"]
    assert metrics["languages"][lang]["quarantined"] == 1
    (row,) = run.quarantined.to_dict("records")
    assert (row["language"], row["source"], row["source_row"]) == (lang, "web", bad + 1)
