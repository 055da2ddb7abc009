"""Stages that never touch a model start without torch, GX or Prefect; no import circles."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

from tests.test_dvc_deps import ROOT, absolute, imported, module_file, module_name

LIGHT_STAGES = ("ingest", "validate", "loss_settings", "compare", "register", "pr_report")
LIGHT_STAGES += ("register_commands", "commands")
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
    assert _loaded_after(f"import capo_pipelines.{stage}") == []


def test_capo_check_params_does_not_import_torch_or_the_pipeline_layer():
    code = "from capo.cli import main\nmain(['check-params', 'params.yaml'])"
    assert _loaded_after(code) == []
    probe = code + "\nimport sys\nprint(sorted(m for m in ('prefect', 'dvc') if m in sys.modules))"
    proc = subprocess.run([sys.executable, "-c", probe], cwd=ROOT, capture_output=True, text=True)
    assert proc.stdout.strip().splitlines()[-1] == "[]"


def _name(path: Path) -> str:
    return module_name(ROOT / path)


CODE = ("capo", "pipelines")


def test_no_two_modules_import_each_other():
    """A circle (sources <-> hf_source was one) works only by import order; keep none."""
    files = [p for folder in CODE for p in ROOT.joinpath(folder).rglob("*.py")]
    edges = {}
    for path in files:
        name = _name(path)
        targets = {_name(module_file(m)) for m in imported(path)}
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
            names.add(absolute(node, package))
        todo.extend(ast.iter_child_nodes(node))
    return names


CORE_MAY_IMPORT = {"torch", "transformers", "trl", "peft", "datasets"}  # and the standard library


def _core_violations(paths: list[Path]) -> list[str]:
    bad = []
    for path in paths:
        for name in _every_import(path):
            top = name.split(".")[0]
            ok = top == "capo" or top in CORE_MAY_IMPORT or top in sys.stdlib_module_names
            if not ok:
                bad.append(f"{path.relative_to(ROOT)}: {name}")
    return bad


def test_the_core_imports_nothing_of_the_workflow():
    """capo/ is what `pip install capo` gives a TRL user: torch, transformers, trl and peft, the
    standard library and itself; never pandas, capo_pipelines, DVC, Prefect or GX, even lazily."""
    bad = _core_violations(sorted(ROOT.joinpath("capo").rglob("*.py")))
    assert not bad, f"the core imports outside torch/transformers/trl/peft/capo: {bad}"


def test_the_package_root_loads_nothing_of_the_workflow():
    """`from capo import capo_loss, CAPOConfig, CAPOTrainer` loads no workflow module."""
    code = (
        "from capo import capo_loss, CAPOConfig, CAPOTrainer, LossSettings\n"
        "import sys\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in "
        "('capo_pipelines', 'dvc', 'prefect', 'great_expectations', 'gto')))"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True
    )
    assert proc.stdout.strip().splitlines()[-1] == "[]"


REPORTING_MAY_NOT = {"torch", "transformers", "trl", "peft", "accelerate", "datasets"}


def test_reporting_imports_no_torch():
    """pipelines/reporting renders numbers others computed: no model library, even lazily."""
    bad = sorted(
        f"{path.relative_to(ROOT)}: {name}"
        for path in ROOT.joinpath("pipelines/reporting").rglob("*.py")
        for name in _every_import(path)
        if name.split(".")[0] in REPORTING_MAY_NOT
    )
    assert not bad, f"reporting modules import model libraries: {bad}"
    modules = sorted(_name(p) for p in ROOT.joinpath("pipelines/reporting").rglob("*.py"))
    assert _loaded_after("\n".join(f"import {m}" for m in modules)) == []


def test_no_file_name_appears_twice():
    """Library modules are nouns, entry modules carry the stage names: one name, one file."""
    names: dict[str, list[str]] = {}
    for folder in CODE:
        for path in ROOT.joinpath(folder).rglob("*.py"):
            if path.name != "__init__.py":
                names.setdefault(path.name, []).append(path.relative_to(ROOT).as_posix())
    twice = {name: paths for name, paths in names.items() if len(paths) > 1}
    assert not twice, f"file names used twice: {twice}"


def test_no_module_is_shadowed_by_a_package():
    """x.py beside a package x/ is never imported: Python takes the package (an entry module
    named like a library package would silently not run)."""
    shadowed = sorted(
        p.relative_to(ROOT).as_posix()
        for folder in CODE
        for p in ROOT.joinpath(folder).rglob("*.py")
        if (p.with_suffix("") / "__init__.py").is_file()
    )
    assert not shadowed, f"modules hidden by a package of the same name: {shadowed}"


def test_the_rules_above_can_fail():
    """The static reader sees a function-level import and resolves a relative one, and the core
    rule rejects a workflow import."""
    probe = ROOT / "capo" / "_probe_for_test.py"
    probe.write_text("def f():\n    import pandas\n    from capo_pipelines.params import Params\n")
    try:
        assert {"pandas", "capo_pipelines.params"} <= _every_import(probe)
        assert len(_core_violations([probe])) == 2
    finally:
        probe.unlink()
