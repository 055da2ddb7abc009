"""Same inputs, same bytes: Data Docs and trainer logs carry no clock times or random ids."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from capo_pipelines.models.reproducible import (
    LOAD_TIME_KEYS,
    forget_load_flags,
    save_tokenizer,
    scrub_trainer_state,
    without_timings,
)
from capo_pipelines.params import ValidateParams
from capo_pipelines.validation import validate_pairs
from tests.validate_data import LANGUAGES, clean_pairs

PARAMS = ValidateParams(languages=LANGUAGES, prompt_chars=(1, 200), max_failing_fraction=1.0)


def _digests(directory: Path) -> dict[str, str]:
    return {
        p.relative_to(directory).as_posix(): hashlib.md5(p.read_bytes()).hexdigest()
        for p in sorted(directory.rglob("*"))
        if p.is_file()
    }


def test_data_docs_of_the_same_data_are_byte_identical(tmp_path):
    df = clean_pairs()
    df.loc[0, "rejected"] = df.loc[0, "chosen"]  # one failing row: the pages list it
    first, second = tmp_path / "a" / "data_docs", tmp_path / "b" / "data_docs"
    validate_pairs(df, PARAMS, first)
    validate_pairs(df, PARAMS, second)
    assert _digests(first) == _digests(second)
    assert any("validations/" in name for name in _digests(first))


def test_trainer_logs_lose_their_timings_only():
    log = [
        {"loss": 1.5, "step": 5, "epoch": 0.5},
        {"eval_loss": 1.2, "eval_runtime": 0.4, "eval_samples_per_second": 9.1, "step": 10},
        {"train_runtime": 3.2, "train_samples_per_second": 5.0, "train_steps_per_second": 1.0,
         "train_loss": 1.4, "total_flos": 12.0, "step": 10},
    ]  # fmt: skip
    assert without_timings(log) == [
        {"loss": 1.5, "step": 5, "epoch": 0.5},
        {"eval_loss": 1.2, "step": 10},
        {"train_loss": 1.4, "total_flos": 12.0, "step": 10},
    ]


def test_checkpoint_states_are_scrubbed(tmp_path):
    state = tmp_path / "checkpoint-2" / "trainer_state.json"
    state.parent.mkdir()
    state.write_text(json.dumps({"global_step": 2, "log_history": [{"eval_runtime": 1.0}]}))
    assert scrub_trainer_state(tmp_path) == 1
    assert json.loads(state.read_text()) == {"global_step": 2, "log_history": [{}]}


def test_tokenizers_are_saved_without_how_they_were_loaded(tmp_path, tiny_tokenizer):
    from transformers import AutoTokenizer

    tiny_tokenizer.save_pretrained(tmp_path / "src")
    fresh = (tmp_path / "src" / "tokenizer_config.json").read_bytes()
    loaded = {}
    for flag in (True, False):  # what HF_HUB_OFFLINE=1 and a networked run pass
        tok = AutoTokenizer.from_pretrained(tmp_path / "src", local_files_only=flag)
        tok.save_pretrained(tmp_path / f"plain-{flag}")
        save_tokenizer(tok, tmp_path / f"scrubbed-{flag}")
        forget_load_flags(tok).save_pretrained(tmp_path / f"forgot-{flag}")
        loaded[flag] = tok
    plain = json.loads((tmp_path / "plain-True" / "tokenizer_config.json").read_text())
    assert plain["local_files_only"] is True  # the flag transformers writes (the bug)
    for kind in ("scrubbed", "forgot"):
        assert _digests(tmp_path / f"{kind}-True") == _digests(tmp_path / f"{kind}-False")
        config = (tmp_path / f"{kind}-True" / "tokenizer_config.json").read_bytes()
        assert config == fresh and not set(LOAD_TIME_KEYS) & set(json.loads(config))
    assert loaded[True]("red cat").input_ids == tiny_tokenizer("red cat").input_ids
