"""`capo benchmark export`: the dataset round-trips through `datasets`, its files are
byte-identical for the same settings, its card's numbers are the study's, and the shipped
lm-eval task scores a model exactly as capo does."""

from __future__ import annotations

import dataclasses
import importlib
import importlib.util
import json
import os
import re
from pathlib import Path

import pyarrow.parquet as pq
import pytest
import yaml

from capo.cli import main
from capo_pipelines.data.benchmark import demonstrations, generate_benchmark
from capo_pipelines.export.benchmark_export import (
    EXPORT_PAIR_COLUMNS,
    EXPORT_SPLITS,
    export_benchmark,
)
from capo_pipelines.export.dataset_card import reference_rows
from capo_pipelines.params import load_params

ROOT = Path(__file__).resolve().parents[1]
STUDY = ROOT / "reports" / "noise_study.json"


def _small_params(**bench):
    params = load_params(ROOT / "params.yaml")
    settings = dict(languages=("en", "de", "ru"), max_number=99, train_pairs=60, test_pairs=30)
    settings.update(bench)
    benchmark = dataclasses.replace(params.ingest.benchmark, **settings)
    return dataclasses.replace(
        params, ingest=dataclasses.replace(params.ingest, benchmark=benchmark)
    )


def _files(folder: Path) -> dict[str, bytes]:
    paths = [folder / "README.md", *sorted(folder.glob("data/*.parquet"))]
    paths += sorted(folder.glob("sft/*.parquet"))
    return {str(p.relative_to(folder)): p.read_bytes() for p in paths}


def test_export_round_trips_through_datasets(tmp_path):
    import datasets

    params = _small_params(noise_model="translation", noise=0.3)
    summary = export_benchmark(params, tmp_path, validation_pairs=15)
    rows = generate_benchmark(params.ingest.benchmark, params.seed, 15)
    expected = {s: [r for r in rows if r["split"] == s] for s in EXPORT_SPLITS}
    assert summary["sizes"] == {"train": 60, "validation": 15, "test": 30}

    on_disk = datasets.load_from_disk(str(tmp_path / "disk" / "pairs"))
    from_files = datasets.load_dataset(str(tmp_path))  # the card's configs: `pairs` by default
    for dd in (on_disk, from_files):
        assert sorted(dd) == sorted(EXPORT_SPLITS)
        for split in EXPORT_SPLITS:
            ds = dd[split]
            assert ds.column_names == list(EXPORT_PAIR_COLUMNS)
            assert ds.num_rows == len(expected[split])
            for name in ("id", "prompt", "chosen", "rejected", "gold", "label_flipped"):
                assert ds[name] == [r[name] for r in expected[split]], (split, name)
            assert ds["translation_confidence"] == [
                r["translation_confidence"] for r in expected[split]
            ]
            assert ds["prompt_messages"][0] == [{"role": "user", "content": ds["prompt"][0]}]
            assert ds["chosen_messages"][0] == [{"role": "assistant", "content": ds["chosen"][0]}]
    train = from_files["train"]
    assert any(train["label_flipped"]) and not any(from_files["test"]["label_flipped"])
    assert any(c is not None for c in train["translation_confidence"])

    sft = datasets.load_dataset(str(tmp_path), "sft")
    demos = demonstrations(params.ingest.benchmark, params.seed)
    assert list(sft) == ["train"] and sft["train"].num_rows == len(demos) == summary["sft_size"]
    assert sft["train"]["completion"] == [d["completion"] for d in demos]
    assert datasets.load_from_disk(str(tmp_path / "disk" / "sft"))["train"].num_rows == len(demos)


def test_same_settings_give_byte_identical_files(tmp_path):
    params, study = _small_params(), json.loads(STUDY.read_text())
    export_benchmark(params, tmp_path / "a", validation_pairs=15, study=study)
    export_benchmark(params, tmp_path / "b", validation_pairs=15, study=study)
    a, b = _files(tmp_path / "a"), _files(tmp_path / "b")
    assert len(a) == 5 and a == b
    export_benchmark(params, tmp_path / "c", seed=1, validation_pairs=15, study=study)
    assert (
        _files(tmp_path / "c")["data/train-00000-of-00001.parquet"]
        != b["data/train-00000-of-00001.parquet"]
    )


def _card(folder: Path) -> tuple[dict, str]:
    text = (folder / "README.md").read_text(encoding="utf-8")
    _, meta, body = text.split("---\n", 2)
    return yaml.safe_load(meta), body


def test_card_metadata_and_sizes(tmp_path):
    summary = export_benchmark(_small_params(), tmp_path, validation_pairs=15)
    meta, body = _card(tmp_path)
    assert meta["language"] == ["en", "de", "ru"]
    assert meta["license"] == "other" and meta["size_categories"] == ["n<1K"]
    configs = {c["config_name"]: c for c in meta["configs"]}
    assert configs["pairs"]["default"] is True
    assert [f["split"] for f in configs["pairs"]["data_files"]] == list(EXPORT_SPLITS)
    assert configs["sft"]["data_files"] == [{"split": "train", "path": "sft/train-*.parquet"}]
    for split in EXPORT_SPLITS:
        files = list(tmp_path.glob(f"data/{split}-*.parquet"))
        assert sum(pq.read_metadata(f).num_rows for f in files) == summary["sizes"][split]
    assert "| all |  |  | 60 | 15 | 30 |" in body
    for column in ("label_flipped", "noise_kind", "gold", "rejected_kind"):
        assert f"`{column}`" in body.split("Ground truth that no training may read")[1][:200]
    assert "num2words" in body and "CLDR" in body


def test_card_reference_scores_are_the_study_json(tmp_path):
    study = json.loads(STUDY.read_text())
    export_benchmark(_small_params(), tmp_path, validation_pairs=15, study=study)
    _, body = _card(tmp_path)
    table = body.split("## Reference scores")[1].split("\n## ")[0]
    lines = [line for line in table.splitlines() if line.startswith("| ") and "[" in line]
    s = study["summary"]
    assert [line.split(" | ")[0][2:] for line in lines] == s["regimes"]
    number = r"[+-]?\d\.\d{3}"
    for line, name in zip(lines, s["regimes"], strict=True):
        cells = [c.strip() for c in line.strip("|").split("|")]
        estimates = [tuple(float(x) for x in re.findall(number, c)) for c in cells[2:]]
        base, cand = s["means"][name][s["baseline"]], s["means"][name][s["candidate"]]
        paired = s["paired"][name][s["candidate"]]["reward_accuracy"]
        truth = [
            base["reward_accuracy"],
            cand["reward_accuracy"],
            paired,
            base["generation_accuracy"],
            cand["generation_accuracy"],
        ]
        for got, want in zip(estimates, truth, strict=True):
            assert got == tuple(round(want[k], 3) for k in ("mean", "low", "high")), (name, got)
    assert len(reference_rows(study)) == len(s["regimes"])


def test_regime_export_is_the_study_data(tmp_path):
    params = _small_params()
    summary = export_benchmark(params, tmp_path, regime="margin-0.4", validation_pairs=0)
    assert summary["settings"]["noise_model"] == "margin"
    assert summary["settings"]["sft_questions"] == "disjoint"
    with pytest.raises(Exception, match="no study regime 'nope'"):
        export_benchmark(params, tmp_path, regime="nope")


def test_cli_export(tmp_path, capsys):
    assert main(["benchmark", "export", str(tmp_path / "out"), "--study", ""]) == 0
    assert "pairs (train 1500, validation 900, test 900)" in capsys.readouterr().out
    _, body = _card(tmp_path / "out")
    assert "No study results were given" in body


@pytest.mark.slow
@pytest.mark.skipif(
    importlib.util.find_spec("lm_eval") is None and not os.environ.get("CI"),
    reason="lm-eval not installed (make setup installs it with the dev extra)",
)
def test_lm_eval_task_scores_like_capo(tmp_path):
    """The shipped task, run by lm-eval on a tiny SFT'd model, gives per language exactly
    capo's generation accuracy, and the same answers, on the same test questions."""
    import lm_eval
    import pandas as pd
    from lm_eval.tasks import TaskManager

    import capo_pipelines.lm_eval_tasks as tasks
    from capo_pipelines.evaluation.evaluator import generation_frame
    from capo_pipelines.evaluation.metrics import first_line
    from capo_pipelines.models.load import load_pretrained
    from capo_pipelines.models.sft import prepare_policy

    params = _small_params(languages=("en", "de"), train_pairs=40, test_pairs=20)
    bench = params.ingest.benchmark
    export_benchmark(params, tmp_path / "data", validation_pairs=0)
    rows = pd.DataFrame(generate_benchmark(bench, params.seed))
    test = rows[rows["split"] == "test"].reset_index(drop=True)
    # Demonstrations include the test questions' answers: the model then answers some
    # test questions right and others wrong, so equal scores are not equal zeros.
    demos = pd.DataFrame(demonstrations(bench, params.seed))
    asked = test[["language", "prompt", "gold", "task"]].rename(columns={"gold": "completion"})
    policy = dataclasses.replace(
        params.policy, sft_epochs=30.0, sft_batch_size=8, vocab_size=300, hidden_size=64
    )
    prepare_policy(
        policy, rows[rows["split"] == "train"], tmp_path / "model", params.seed,
        demonstrations=pd.concat([demos.iloc[:40], asked.iloc[::2]], ignore_index=True),
    )  # fmt: skip

    model, tok = load_pretrained(str(tmp_path / "model"))
    ours = generation_frame(model, tok, test, languages=bench.languages, max_length=256)
    manager = TaskManager(
        include_path=str(tasks.TASK_DIR), metadata={"data_dir": str(tmp_path / "data")}
    )
    names = [f"capo_benchmark_{lang}" for lang in bench.languages]
    result = lm_eval.simple_evaluate(
        model="hf",
        model_args=f"pretrained={tmp_path / 'model'},dtype=float32",
        tasks=names,
        task_manager=manager,
        device="cpu",
        batch_size=1,
        log_samples=True,
    )
    accuracy = ours.groupby("language")["generation_accuracy"].mean()
    for lang, name in zip(bench.languages, names, strict=True):
        assert result["results"][name]["generation_accuracy,none"] == accuracy[lang]
        samples = result["samples"][name]
        theirs = {s["doc"]["id"]: first_line(s["resps"][0][0]) for s in samples}
        mine = ours[ours["language"] == lang].set_index("id")["answer"].to_dict()
        assert theirs == mine
    assert accuracy.min() > 0 and accuracy.max() < 1, accuracy  # a mixed, telling model
