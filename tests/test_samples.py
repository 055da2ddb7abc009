"""`capo generate`: the first verifiable pairs per language, each model's greedy answer."""

from __future__ import annotations

import pandas as pd
import pytest

from capo.cli import main
from capo.errors import EXIT_INPUT
from capo_pipelines.evaluation.samples import markdown, pick


def _pairs() -> pd.DataFrame:
    rows = []
    for lang in ("en", "de", "fr"):
        for i in range(4):
            gold = f"{lang} gold {i}" if i != 1 else ""  # the second pair has no gold answer
            rows.append(
                {"language": lang, "prompt": f"Say red {i}:", "gold": gold,
                 "chosen": " red red", "rejected": " blue no"}
            )  # fmt: skip
    return pd.DataFrame(rows)


def test_pick_takes_the_first_verifiable_pairs_of_each_language():
    rows = pick(_pairs(), per_language=2)
    assert rows.groupby("language").size().to_dict() == {"de": 2, "en": 2, "fr": 2}
    assert set(rows["gold"].str[-1]) == {"0", "2"}  # the pair without gold is skipped
    only = pick(_pairs(), per_language=1, languages=["fr"])
    assert only["language"].tolist() == ["fr"] and only["gold"].tolist() == ["fr gold 0"]


def test_markdown_escapes_pipes_and_marks_empty_answers():
    frame = pd.DataFrame({"prompt": ["a | b"], "model": ["  "]})
    assert markdown(frame).splitlines()[2] == "| a \\| b | (empty) |"


def test_capo_generate_prints_each_models_greedy_answers(
    tmp_path, capsys, make_tiny_model, tiny_tokenizer
):
    for seed, name in ((0, "one"), (1, "two")):
        make_tiny_model(seed).save_pretrained(tmp_path / name)
        tiny_tokenizer.save_pretrained(tmp_path / name)
    _pairs().to_parquet(tmp_path / "test.parquet")
    argv = ["generate", f"a={tmp_path / 'one'}", str(tmp_path / "two"), "--per-language", "1"]
    assert main([*argv, "--pairs", str(tmp_path / "test.parquet"), "--max-new-tokens", "3"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == "| language | prompt | gold | a | two |"
    assert [line.split(" | ")[0] for line in lines[2:]] == ["| en", "| de", "| fr"]  # file order
    answers = [line.split(" | ")[3:] for line in lines[2:]]
    assert all(cell.strip(" |") for row in answers for cell in row)  # random models say something


@pytest.mark.parametrize("missing", ["model", "pairs"])
def test_capo_generate_names_a_missing_input(tmp_path, capsys, missing):
    model, pairs = tmp_path / "m", tmp_path / "p.parquet"
    if missing == "pairs":
        model.mkdir()
    assert main(["generate", str(model), "--pairs", str(pairs)]) == EXIT_INPUT
    err = capsys.readouterr().err
    assert err.startswith("capo generate: error: ")
    assert str(model if missing == "model" else pairs) in err
