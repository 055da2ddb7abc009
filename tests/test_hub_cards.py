"""The model card (register stage) and the dataset card (benchmark export) are Hub-valid:
every metadata value is checked offline against the Hub's documented lists, and both cards
load back through huggingface_hub's ModelCard / DatasetCard with the same data.

RepoCard.validate asks the Hub's server, so it is not run here (no network in tests)."""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path

import pytest
import yaml
from huggingface_hub import DatasetCard, ModelCard

from capo_pipelines.export.benchmark_export import export_benchmark
from capo_pipelines.export.dataset_card import card_data, size_category
from capo_pipelines.models.registry import (
    LICENSE_FILE,
    CardInfo,
    hub_model_id,
    license_document,
    model_card,
    model_card_data,
)
from capo_pipelines.params import ParamsError, load_params
from tests.test_register import _metrics

ROOT = Path(__file__).resolve().parents[1]

# --- The Hub's allowed values this test relies on -------------------------------------------
# Hub docs, "Licenses" (huggingface.co/docs/hub/repositories-licenses): the license identifiers.
LICENSES = {
    "apache-2.0", "mit", "openrail", "bigscience-openrail-m", "creativeml-openrail-m",
    "bigscience-bloom-rail-1.0", "bigcode-openrail-m", "afl-3.0", "artistic-2.0", "bsl-1.0",
    "bsd", "bsd-2-clause", "bsd-3-clause", "bsd-3-clause-clear", "c-uda", "cc", "cc0-1.0",
    "cc-by-2.0", "cc-by-2.5", "cc-by-3.0", "cc-by-4.0", "cc-by-sa-3.0", "cc-by-sa-4.0",
    "cc-by-nc-2.0", "cc-by-nc-3.0", "cc-by-nc-4.0", "cc-by-nd-4.0", "cc-by-nc-nd-3.0",
    "cc-by-nc-nd-4.0", "cc-by-nc-sa-2.0", "cc-by-nc-sa-3.0", "cc-by-nc-sa-4.0",
    "cdla-sharing-1.0", "cdla-permissive-1.0", "cdla-permissive-2.0", "wtfpl", "ecl-2.0",
    "epl-1.0", "epl-2.0", "etalab-2.0", "eupl-1.1", "agpl-3.0", "gfdl", "gpl", "gpl-2.0",
    "gpl-3.0", "lgpl", "lgpl-2.1", "lgpl-3.0", "isc", "lppl-1.3c", "ms-pl", "mpl-2.0", "odc-by",
    "odbl", "openrail++", "osl-3.0", "postgresql", "ofl-1.1", "ncsa", "unlicense", "zlib",
    "pddl", "lgpl-lr", "deepfloyd-if-license", "llama2", "gemma", "unknown", "other",
}  # fmt: skip
# Same page and the card specs (github.com/huggingface/hub-docs modelcard.md, datasetcard.md):
# with `license: other`, license_name is an id "like `my-license-1.0`" and license_link is
# "LICENSE" or "LICENSE.md" (a file of that name in the repo) or a URL.
LICENSE_NAME = re.compile(r"[a-z0-9][a-z0-9.-]*")
LICENSE_FILES = {"LICENSE", "LICENSE.md"}
# Hub docs, "Dataset Cards" (huggingface.co/docs/hub/datasets-cards) and huggingface_hub's
# DatasetCardData, which lists the options of each field:
SIZE_CATEGORIES = [
    "n<1K", "1K<n<10K", "10K<n<100K", "100K<n<1M", "1M<n<10M", "10M<n<100M", "100M<n<1B",
    "1B<n<10B", "10B<n<100B", "100B<n<1T", "n>1T",
]  # fmt: skip
ANNOTATIONS_CREATORS = {
    "found", "crowdsourced", "expert-generated", "machine-generated", "no-annotation", "other"
}  # fmt: skip
LANGUAGE_CREATORS = {"found", "crowdsourced", "expert-generated", "machine-generated", "other"}
MULTILINGUALITY = {"monolingual", "multilingual", "translation", "other"}
SOURCE_DATASETS = {"original", "extended"}
# Hub docs, "Model Cards" (huggingface.co/docs/hub/model-cards, "Specifying a task"): the
# pipeline tags (also a dataset's task_categories) are huggingface.js packages/tasks/src/
# pipelines.ts; its natural-language ones, and text-generation's subtasks (task_ids):
PIPELINE_TAGS = {
    "text-classification", "token-classification", "table-question-answering",
    "question-answering", "zero-shot-classification", "translation", "summarization",
    "feature-extraction", "text-generation", "text2text-generation", "fill-mask",
    "sentence-similarity", "text-ranking", "text-retrieval", "table-to-text", "multiple-choice",
}  # fmt: skip
TEXT_GENERATION_TASK_IDS = {
    "dialogue-modeling", "dialogue-generation", "conversational", "language-modeling"
}  # fmt: skip
# Hub docs, "Model Cards" ("Specifying a library") -> "Libraries" (models-libraries): ids.
LIBRARIES = {"transformers", "peft", "sentence-transformers", "diffusers", "gguf"}
# Hub docs, "Model Cards": language codes are ISO 639-1 (huggingface_hub's card data:
# "ISO 639-1, 639-2 or 639-3 code (two/three letters)").
LANGUAGE = re.compile(r"[a-z]{2,3}")
# ----------------------------------------------------------------------------------------------


def _check_license(meta: dict, folder: Path) -> None:
    assert meta["license"] in LICENSES
    if meta["license"] != "other":
        assert "license_name" not in meta and "license_link" not in meta
        return
    name, link = meta.get("license_name"), meta.get("license_link")
    assert name and LICENSE_NAME.fullmatch(name), f"license other needs a license_name: {name!r}"
    assert link in LICENSE_FILES or (link or "").startswith("https://"), f"license_link: {link!r}"
    if link in LICENSE_FILES:
        assert (folder / link).is_file()  # the card links to a file that exists


def _check_model_metadata(meta: dict, folder: Path) -> None:
    known = {"language", "license", "license_name", "license_link", "library_name"}
    known |= {"pipeline_tag", "base_model", "datasets", "tags", "model-index"}  # model-cards
    assert set(meta) <= known, set(meta) - known
    _check_license(meta, folder)
    assert all(LANGUAGE.fullmatch(lang) for lang in meta["language"])
    assert meta["pipeline_tag"] in PIPELINE_TAGS and meta["pipeline_tag"] == "text-generation"
    assert meta["library_name"] in LIBRARIES and meta["library_name"] == "transformers"
    assert {"capo", "dpo", "trl"} <= set(meta["tags"])
    if "base_model" in meta:
        assert hub_model_id(meta["base_model"]) == meta["base_model"]
    (index,) = meta["model-index"]
    for result in index["results"]:
        assert result["task"]["type"] in PIPELINE_TAGS
        assert result["dataset"]["type"] and result["dataset"]["name"]
        assert all({"type", "value"} <= set(m) for m in result["metrics"])


def _card_info(loss: str, base_model: str, baseline: str, **license) -> CardInfo:
    metrics = _metrics(0.81234, {"de": 0.75, "hi": 0.6789})
    return CardInfo(
        name="capo-policy",
        base_model=base_model,
        languages=["de", "hi"],
        loss=loss,
        settings={"beta": 0.1},
        metrics=metrics,
        baseline_metrics=_metrics(0.7, {"de": 0.7, "hi": 0.6}),
        data_md5="d" * 32,
        weights_md5="w" * 32,
        baseline=baseline,
        **license,
    )


def _write_package(info: CardInfo, folder: Path) -> Path:
    folder.mkdir(parents=True)
    (folder / "README.md").write_text(model_card(info), encoding="utf-8")
    if (text := license_document(info)) is not None:
        (folder / LICENSE_FILE).write_text(text, encoding="utf-8")
    return folder / "README.md"


CASES = {  # loss, base model, baseline, license fields
    "capo-builtin": ("capo", "builtin-tiny", "sigmoid", {}),
    "ipo-hub-model": ("ipo", "HuggingFaceTB/SmolLM2-135M-Instruct", "robust",
                      {"license": "apache-2.0", "license_name": None}),
    "sigmoid-local": ("sigmoid", "LOCAL", "ipo",
                      {"license_name": "acme-1.0", "license_link": "https://example.org/l"}),
}  # fmt: skip


@pytest.mark.parametrize("case", list(CASES))
def test_model_card_is_hub_valid_and_loads_back(tmp_path, case):
    loss, base_model, baseline, license = CASES[case]
    if base_model == "LOCAL":
        base_model = str(tmp_path / "my-model")
        Path(base_model).mkdir()
    info = _card_info(loss, base_model, baseline, **license)
    path = _write_package(info, tmp_path / "package")
    text = path.read_text(encoding="utf-8")
    meta = yaml.safe_load(text.split("---\n")[1])
    _check_model_metadata(meta, path.parent)

    loaded = ModelCard.load(path)  # a local path: no network
    assert loaded.data.to_dict() == model_card_data(info).to_dict() == meta
    assert str(loaded) == text
    results = {(r.dataset_config, r.metric_type): r.metric_value for r in loaded.data.eval_results}
    assert results[(None, "reward_accuracy")] == 0.8123  # overall, as the evaluate stage wrote it
    assert (
        results[("de", "reward_accuracy")] == 0.75 and results[("hi", "reward_accuracy")] == 0.6789
    )
    assert results[("hi", "reward_margin")] == 0.4

    if base_model == "builtin-tiny" or case == "sigmoid-local":
        assert "base_model" not in meta and f"`{base_model}`" in loaded.text
    else:
        assert meta["base_model"] == base_model
    body = loaded.text
    assert f"| language | reward accuracy | reward margin | `{baseline}` reward accuracy |" in body
    assert ("DPO reward accuracy" in body) is False
    assert f"(baseline `{baseline}`: 0.7000)" in body
    names_capo = "CAPO (Confidence-Aware Preference Optimization" in body
    assert names_capo == (loss == "capo")
    if loss == "ipo":
        assert "aligned with the `ipo` preference loss" in body
    if loss == "sigmoid":
        assert "aligned with DPO (TRL's `sigmoid` loss)" in body
    assert (path.parent / LICENSE_FILE).exists() == (case == "capo-builtin")


def test_hub_model_id_only_for_hub_ids(tmp_path):
    local = tmp_path / "weights"
    local.mkdir()
    for model in ("gpt2", "HuggingFaceTB/SmolLM2-135M-Instruct"):
        assert hub_model_id(model) == model
    for model in ("builtin-tiny", str(local), "./m", "~/m", "a/b/c", "bad id", "x/--y"):
        assert hub_model_id(model) is None, model


@pytest.mark.parametrize(
    "register, message",
    [
        ({"license_name": "My License"}, "register.license_name: must be lowercase letters"),
        ({"license": "mit", "license_name": "undecided"}, "register.license_name: must be null"),
        ({"license_name": "acme-1.0"}, "register.license_link: must be set for license_name"),
    ],
)
def test_register_license_params_are_checked(tmp_path, register, message):
    path = tmp_path / "params.yaml"
    path.write_text(yaml.safe_dump({"register": register}), encoding="utf-8")
    with pytest.raises(ParamsError, match=re.escape(message)):
        load_params(path)


@pytest.mark.parametrize(
    "register, name, link",
    [
        ({}, "undecided", None),
        ({"license": "mit"}, None, None),
        (
            {"license_name": "acme-1.0", "license_link": "https://x.org/l"},
            "acme-1.0",
            "https://x.org/l",
        ),
    ],
)
def test_register_license_params_that_load(tmp_path, register, name, link):
    path = tmp_path / "params.yaml"
    path.write_text(yaml.safe_dump({"register": register}), encoding="utf-8")
    gate = load_params(path).register
    assert (gate.license_name, gate.license_link) == (name, link)


def test_the_shipped_register_params_give_a_valid_license():
    gate = load_params(ROOT / "params.yaml").register
    info = dataclasses.replace(
        _card_info("capo", "builtin-tiny", gate.baseline),
        license=gate.license,
        license_name=gate.license_name,
        license_link=gate.license_link,
    )
    meta = model_card_data(info).to_dict()
    assert meta["license"] in LICENSES
    if meta["license"] == "other":
        assert LICENSE_NAME.fullmatch(meta["license_name"])
        assert meta["license_link"] == LICENSE_FILE or meta["license_link"].startswith("https://")


def _small_params():
    params = load_params(ROOT / "params.yaml")
    bench = dataclasses.replace(
        params.ingest.benchmark,
        languages=("en", "de", "ru"),
        max_number=99,
        train_pairs=60,
        test_pairs=30,
    )
    return dataclasses.replace(params, ingest=dataclasses.replace(params.ingest, benchmark=bench))


def test_dataset_card_is_hub_valid_and_loads_back(tmp_path):
    summary = export_benchmark(_small_params(), tmp_path, validation_pairs=15)
    path = tmp_path / "README.md"
    text = path.read_text(encoding="utf-8")
    meta = yaml.safe_load(text.split("---\n")[1])

    _check_license(meta, tmp_path)
    assert meta["license_name"] == "capo-benchmark-sources"
    assert "num2words (LGPL-2.1)" in (tmp_path / meta["license_link"]).read_text()
    assert meta["size_categories"] == ["n<1K"]  # 105 pairs
    assert set(meta["size_categories"]) <= set(SIZE_CATEGORIES)
    assert (
        set(meta["task_categories"]) <= PIPELINE_TAGS
        and "text-generation" in meta["task_categories"]
    )
    assert set(meta.get("task_ids", [])) <= TEXT_GENERATION_TASK_IDS
    assert set(meta["annotations_creators"]) <= ANNOTATIONS_CREATORS
    assert set(meta["language_creators"]) <= LANGUAGE_CREATORS
    assert (
        meta["multilinguality"] == ["multilingual"]
        and set(meta["multilinguality"]) <= MULTILINGUALITY
    )
    assert set(meta["source_datasets"]) <= SOURCE_DATASETS
    assert meta["language"] == ["en", "de", "ru"]
    assert all(LANGUAGE.fullmatch(lang) for lang in meta["language"])
    assert {"capo", "dpo", "trl"} <= set(meta["tags"])

    loaded = DatasetCard.load(path)  # a local path: no network
    assert loaded.data.to_dict() == card_data(summary).to_dict() == meta
    assert str(loaded) == text
    assert "## Licenses" in loaded.text and "## Reference scores" in loaded.text


@pytest.mark.parametrize(
    "n, expected",
    [
        (0, "n<1K"),
        (999, "n<1K"),
        (1_000, "1K<n<10K"),
        (99_999, "10K<n<100K"),
        (999_999, "100K<n<1M"),
        (1_000_000, "1M<n<10M"),
        (10**7, "10M<n<100M"),
        (10**8, "100M<n<1B"),
        (10**9, "1B<n<10B"),
        (10**10, "10B<n<100B"),
        (10**11, "100B<n<1T"),
        (10**12 - 1, "100B<n<1T"),
        (10**12, "n>1T"),
    ],
)
def test_size_category_is_the_hubs(n, expected):
    assert size_category(n) == expected and expected in SIZE_CATEGORIES
