"""Stages that never touch a model start without torch, GX or Prefect; no import circles."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

from tests.test_dvc_deps import ROOT, _absolute, _imported, module_file

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
    assert _loaded_after(f"import capo.pipelines.{stage}") == []


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
    files = [*ROOT.joinpath("capo").rglob("*.py")]
    edges = {}
    for path in files:
        name = _name(path)
        targets = {_name(module_file(m)) for m in _imported(path)}
        edges[name] = {t for t in targets if t != name and not name.startswith(t + ".")}
    circles = sorted((a, b) for a in edges for b in edges[a] if a < b and a in edges.get(b, ()))
    assert not circles, f"modules that import each other: {circles}"


def _every_import(path: Path) -> set[str]:
    """Every module ``path`` imports anywhere (functions and lazy blocks too), made absolute;
    only `if TYPE_CHECKING:` blocks are left out (they never run)."""
    package = _name(path) if path.name == "__init__.py" else _name(path).rsplit(".", 1)[0]
    names: set[str] = set()
    todo: list[ast.AST] = [ast.parse(path.read_text(encoding="utf-8"))]
    while todo:
        node = todo.pop()
        if isinstance(node, ast.If) and getattr(node.test, "id", None) == "TYPE_CHECKING":
            continue
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            names.add(_absolute(node, package))
        todo.extend(ast.iter_child_nodes(node))
    return names


CORE_MAY_IMPORT = {"torch", "transformers", "trl"}  # and the standard library


def test_the_core_imports_nothing_of_the_pipeline():
    """capo/core is what `pip install capo` gives a TRL user: torch, transformers and trl, the
    standard library, itself and capo.errors; never pandas, the params schema or a stage."""
    bad = []
    for path in sorted(ROOT.joinpath("capo/core").rglob("*.py")):
        for name in _every_import(path):
            top = name.split(".")[0]
            if top == "capo":
                ok = name == "capo.errors" or name.startswith("capo.core")
            else:
                ok = top in CORE_MAY_IMPORT or top in sys.stdlib_module_names or top == ""
            if not ok:
                bad.append(f"{path.relative_to(ROOT)}: {name}")
    assert not bad, f"the core imports outside torch/transformers/trl/capo.core: {bad}"


def test_the_package_root_loads_the_core_alone():
    """`from capo import capo_loss, CAPOConfig, CAPOTrainer` loads no pipeline module."""
    code = (
        "from capo import capo_loss, CAPOConfig, CAPOTrainer, LossSettings\n"
        "import sys\n"
        "print(sorted(m for m in sys.modules if m.startswith('capo') and "
        "not m.startswith('capo.core') and m not in ('capo', 'capo.errors')))"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True
    )
    assert proc.stdout.strip().splitlines()[-1] == "[]"


REPORTING_MAY_NOT = {"torch", "transformers", "trl", "peft", "accelerate", "datasets"}


def test_reporting_imports_no_torch():
    """capo/reporting renders numbers others computed: no model library, even lazily."""
    bad = sorted(
        f"{path.relative_to(ROOT)}: {name}"
        for path in ROOT.joinpath("capo/reporting").rglob("*.py")
        for name in _every_import(path)
        if name.split(".")[0] in REPORTING_MAY_NOT
    )
    assert not bad, f"reporting modules import model libraries: {bad}"
    modules = sorted(_name(p) for p in ROOT.joinpath("capo/reporting").rglob("*.py"))
    assert _loaded_after("\n".join(f"import {m}" for m in modules)) == []


def test_the_rules_above_can_fail(tmp_path):
    """The static reader sees a function-level import and resolves a relative one."""
    probe = ROOT / "capo" / "core" / "_probe_for_test.py"
    probe.write_text("def f():\n    import pandas\n    from ..params import Params\n")
    try:
        assert {"pandas", "capo.params"} <= _every_import(probe)
    finally:
        probe.unlink()
