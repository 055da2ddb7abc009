"""Stages that never touch a model start without torch, GX or Prefect; no import circles."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

from tests.test_dvc_deps import ROOT, _imported, module_file

LIGHT_STAGES = ("ingest", "validate", "loss_settings", "compare", "register", "report")
LIGHT_STAGES += ("register_commands",)
HEAVY = ("torch", "transformers", "trl", "great_expectations", "prefect")  # seconds each


def _loaded_after(code: str) -> list[str]:
    """The HEAVY modules loaded by a fresh interpreter (run in the repository) after ``code``."""
    probe = f"{code}\nimport sys\nprint(sorted(m for m in {HEAVY!r} if m in sys.modules))"
    proc = subprocess.run(
        [sys.executable, "-c", probe], cwd=ROOT, capture_output=True, text=True, check=True
    )
    return ast.literal_eval(proc.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize("stage", LIGHT_STAGES)
def test_stages_without_a_model_import_no_heavy_library(stage):
    assert _loaded_after(f"import pipelines.{stage}") == []


def test_capo_check_params_does_not_import_torch_or_the_pipeline_layer():
    code = "from capo.cli import main\nmain(['check-params', 'params.yaml'])"
    assert _loaded_after(code) == []
    probe = code + "\nimport sys\nprint(sorted(m for m in ('prefect', 'dvc') if m in sys.modules))"
    proc = subprocess.run([sys.executable, "-c", probe], cwd=ROOT, capture_output=True, text=True)
    assert proc.stdout.strip().splitlines()[-1] == "[]"


def _name(path: Path) -> str:
    return ".".join(path.relative_to(ROOT).with_suffix("").parts).removesuffix(".__init__")


def test_no_two_modules_import_each_other():
    """A circle (sources <-> hf_source was one) works only by import order; keep none."""
    files = [*ROOT.joinpath("capo").rglob("*.py"), *ROOT.joinpath("pipelines").rglob("*.py")]
    edges = {}
    for path in files:
        name = _name(path)
        targets = {_name(module_file(m)) for m in _imported(path)}
        edges[name] = {t for t in targets if t != name and not name.startswith(t + ".")}
    circles = sorted((a, b) for a in edges for b in edges[a] if a < b and a in edges.get(b, ()))
    assert not circles, f"modules that import each other: {circles}"
