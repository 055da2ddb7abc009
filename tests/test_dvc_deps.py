"""dvc.yaml lists every stage's code, as scripts/dvc_deps.py writes it from the imports.

A module left out of a stage's deps changes without DVC rerunning the stage; a listed module
the stage never imports reruns it for nothing. scripts/dvc_deps.py reads the imports
statically (ast), transitively from the stage's `python -m capo_pipelines.<x>` entry point,
and writes the code deps; these tests check that dvc.yaml equals its output and that the
walk itself sees what Python runs.
"""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
_spec = importlib.util.spec_from_file_location("dvc_deps", ROOT / "scripts" / "dvc_deps.py")
dvc_deps = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(dvc_deps)
module_file, stage_modules = dvc_deps.module_file, dvc_deps.stage_modules
imported, absolute, module_name = dvc_deps.imported, dvc_deps.absolute, dvc_deps.module_name


def stage_entry_points() -> dict[str, tuple[str, list[str]]]:
    """stage name -> (entry module, deps) for every stage of dvc.yaml."""
    stages = yaml.safe_load((ROOT / "dvc.yaml").read_text(encoding="utf-8"))["stages"]
    out = {}
    for name, stage in stages.items():
        match = re.search(r"python -m (capo_pipelines\.\w+)", stage["cmd"])
        assert match, f"stage {name}: cmd does not run `python -m capo_pipelines.<stage>`"
        out[name] = (
            match[1],
            [str(d) if isinstance(d, str) else next(iter(d)) for d in stage["deps"]],
        )
    return out


def covered(path: Path, deps: list[str]) -> bool:
    text = path.as_posix()
    return any(text == d.rstrip("/") or text.startswith(d.rstrip("/") + "/") for d in deps)


def test_dvc_yaml_equals_the_generated_code_deps():
    """CI's check: `python scripts/dvc_deps.py --check` finds nothing to rewrite."""
    for name in dvc_deps.PIPELINES:
        text = (ROOT / name).read_text(encoding="utf-8")
        assert dvc_deps.regenerate(text) == text, f"{name}: run `python scripts/dvc_deps.py`"


def test_the_generator_rewrites_a_stale_list():
    """A dep dropped, a stale one added: the generator restores exactly the right list."""
    text = (ROOT / "dvc.yaml").read_text(encoding="utf-8")
    stale = text.replace("      - pipelines/_stage.py\n", "", 1).replace(
        "      - capo/errors.py\n", "      - capo/errors.py\n      - capo/cli.py\n", 1
    )
    assert stale != text
    assert dvc_deps.regenerate(stale) == text


def test_a_folder_is_listed_only_when_the_stage_imports_all_of_it():
    deps = dvc_deps.code_deps("capo_pipelines.validate")
    assert "pipelines/validation" in deps  # every module of it
    assert not any(d.startswith("pipelines/validation/") for d in deps)
    train = dvc_deps.code_deps("capo_pipelines.train")
    assert "pipelines/models" not in train  # it does not run SFT or the registry
    assert "pipelines/models/training.py" in train and "pipelines/models/sft.py" not in train


def test_the_import_walk_sees_function_level_and_package_imports():
    files = {p.as_posix() for p in stage_modules("capo_pipelines.ingest")}
    assert "pipelines/data/hf_source.py" in files  # imported inside read_source
    assert {"capo/__init__.py", "pipelines/params/__init__.py", "pipelines/_stage.py"} <= files
    assert {"capo/loss.py", "capo/trainer.py"}.isdisjoint(files)  # capo's lazy names
    assert "pipelines/data/ingestion.py" not in {
        p.as_posix() for p in stage_modules("capo_pipelines.validate")
    }
    lazy = {p.as_posix() for p in stage_modules("capo_pipelines.models.training")}
    assert {"capo/trainer.py", "capo/loss.py"} <= lazy


@pytest.mark.parametrize("stage", sorted(stage_entry_points()))
def test_every_imported_module_is_a_dep_of_its_stage(stage):
    entry, deps = stage_entry_points()[stage]
    missing = sorted(p.as_posix() for p in stage_modules(entry) if not covered(p, deps))
    assert not missing, f"dvc.yaml stage {stage!r} imports these but does not list them: {missing}"


STUDIES = ("studies/noise/dvc.yaml", "studies/smollm2/dvc.yaml")


@pytest.mark.parametrize("study", STUDIES)
def test_a_study_lists_every_module_it_imports(study):
    stage = yaml.safe_load((ROOT / study).read_text(encoding="utf-8"))
    deps = [d for d in stage["stages"]["study"]["deps"] if isinstance(d, str)]
    missing = sorted(
        p.as_posix() for p in stage_modules("capo_pipelines.study") if not covered(p, deps)
    )
    assert not missing, f"{study} imports these but does not list them: {missing}"


def test_bytecode_caches_are_not_part_of_any_directory_dep():
    """pipelines/validation, pipelines/params, ... are directory deps: if DVC hashed their
    __pycache__, every fresh clone (or a new Python) would see changed deps and rerun the
    whole pipeline."""
    import subprocess

    from tests.conftest import dvc_bin

    paths = ["pipelines/validation/__pycache__/gate.cpython-311.pyc", "pipelines/params/x.pyc"]
    proc = subprocess.run(
        [dvc_bin(), "check-ignore", *paths], cwd=ROOT, capture_output=True, text=True
    )
    assert proc.returncode == 0 and proc.stdout.split() == paths
    kept = subprocess.run([dvc_bin(), "check-ignore", "pipelines/data/ingestion.py"], cwd=ROOT)
    assert kept.returncode == 1  # the code itself is hashed


def _stale(entry: str, deps: list[str]) -> list[str]:
    files = {p.as_posix() for p in stage_modules(entry)}
    return sorted(
        d
        for d in deps
        if d.startswith(dvc_deps.CODE_ROOTS) and not any(covered(Path(f), [d]) for f in files)
    )


@pytest.mark.parametrize("stage", sorted(stage_entry_points()))
def test_every_code_dep_of_a_stage_is_code_it_runs(stage):
    """A listed file or folder the stage never imports reruns it for nothing (or names a file
    that moved away)."""
    entry, deps = stage_entry_points()[stage]
    stale = _stale(entry, deps)
    assert not stale, f"dvc.yaml stage {stage!r} lists code it does not import: {stale}"


@pytest.mark.parametrize("study", STUDIES)
def test_a_study_lists_only_code_it_runs(study):
    stage = yaml.safe_load((ROOT / study).read_text(encoding="utf-8"))
    deps = [d for d in stage["stages"]["study"]["deps"] if isinstance(d, str)]
    assert not _stale("capo_pipelines.study", deps)
    assert _stale("capo_pipelines.study", [*deps, "pipelines/reporting/plots.py"]) == [
        "pipelines/reporting/plots.py"
    ]


def test_the_study_store_hashes_every_module_a_trial_runs():
    """A trial's fingerprint covers its code (pipelines/noise_study/store.py TRIAL_CODE): every
    module trials.py imports is hashed, so a change to any of them reruns the trials; only the
    study's report, statistics and store code (they read records, never make them) is left out."""
    from capo_pipelines.noise_study.store import trial_files

    hashed = {f.resolve() for _, f in trial_files()}
    readers = ("pipelines/reporting/", "pipelines/noise_study/")
    needed = {
        ROOT / p
        for p in stage_modules("capo_pipelines.noise_study.trials")
        if not p.as_posix().startswith(readers) or p.name == "trials.py"
    }
    missing = sorted(p.relative_to(ROOT).as_posix() for p in needed if p.resolve() not in hashed)
    assert not missing, f"trial code not in the store's fingerprint: {missing}"
