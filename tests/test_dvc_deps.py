"""dvc.yaml lists every stage's code: each capo/pipelines module a stage imports is in its deps.

A module left out of a stage's deps changes without DVC rerunning the stage. The imports are
read statically (ast), transitively from the stage's `python -m capo.pipelines.<x>` entry point,
counting the package __init__ files Python runs on the way and imports inside functions.
Imports that never run for a stage are left out: those under `if TYPE_CHECKING:` and those
in a package's lazy `__getattr__` (PEP 562), unless the stage imports a lazy name from it.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterable
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("capo",)


def module_file(name: str) -> Path | None:
    """The file of module ``name`` under ROOT (a package's __init__.py), or None."""
    base = ROOT.joinpath(*name.split("."))
    for path in (base.with_suffix(".py"), base / "__init__.py"):
        if path.is_file():
            return path
    return None


def _with_parents(name: str) -> list[str]:
    parts = name.split(".")
    return [".".join(parts[: i + 1]) for i in range(len(parts))]


def _is_lazy(node: ast.AST) -> bool:
    """`if TYPE_CHECKING:` or a module's `def __getattr__`: its imports run only on demand."""
    if isinstance(node, ast.If):
        return isinstance(node.test, ast.Name) and node.test.id == "TYPE_CHECKING"
    return isinstance(node, ast.FunctionDef) and node.name == "__getattr__"


def _absolute(node: ast.ImportFrom, package: str) -> str:
    """The module a `from ... import` reads, relative imports resolved against ``package``."""
    if not node.level:
        return node.module or ""
    up = package.split(".")[: len(package.split(".")) - node.level + 1]
    return ".".join([*up, node.module] if node.module else up)


def _imports(nodes: Iterable[ast.AST], package: str) -> list[str]:
    """Module names imported in ``nodes`` and below them, lazy blocks left out."""
    out: list[str] = []
    for node in nodes:
        if _is_lazy(node):
            continue
        if isinstance(node, ast.Import):
            out += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = _absolute(node, package)
            out += [base, *(f"{base}.{alias.name}" for alias in node.names)]
        out += _imports(ast.iter_child_nodes(node), package)
    return out


def _lazy_source(package: str, name: str) -> list[str]:
    """Modules a package's lazy name comes from: its __init__'s imports of ``name``.

    A lazy package (PEP 562 `__getattr__`) imports its names under `if TYPE_CHECKING:`.
    """
    path = module_file(package)
    tree = ast.parse(path.read_text(encoding="utf-8")) if path else ast.Module([], [])
    return [
        _absolute(node, package)
        for node in ast.walk(tree)
        if isinstance(node, ast.ImportFrom) and name in {a.asname or a.name for a in node.names}
    ]


def _imported(path: Path) -> set[str]:
    """Names of capo/pipelines modules that ``path`` imports (with the packages above them)."""
    here = ".".join(path.relative_to(ROOT).with_suffix("").parts)
    package = here.rsplit(".", 1)[0] if path.name != "__init__.py" else here[: -len(".__init__")]
    names: set[str] = set()
    for name in _imports(ast.parse(path.read_text(encoding="utf-8")).body, package):
        if name.split(".")[0] not in PACKAGES:
            continue
        if module_file(name) is None:  # `from pkg import attr`: maybe a lazy attribute
            for source in _lazy_source(*name.rsplit(".", 1)):
                names.update(n for n in _with_parents(source) if module_file(n))
        names.update(n for n in _with_parents(name) if module_file(n))
    return names


def stage_modules(entry: str) -> set[Path]:
    """Files of every capo/pipelines module that running ``python -m entry`` imports."""
    todo, seen = _with_parents(entry), set()
    while todo:
        name = todo.pop()
        path = module_file(name)
        if name in seen or path is None:
            continue
        seen.add(name)
        todo.extend(_imported(path))
    return {module_file(name).relative_to(ROOT) for name in seen}


def stage_entry_points() -> dict[str, tuple[str, list[str]]]:
    """stage name -> (entry module, deps) for every stage of dvc.yaml."""
    stages = yaml.safe_load((ROOT / "dvc.yaml").read_text(encoding="utf-8"))["stages"]
    out = {}
    for name, stage in stages.items():
        match = re.search(r"python -m (capo\.pipelines\.\w+)", stage["cmd"])
        assert match, f"stage {name}: cmd does not run `python -m capo.pipelines.<stage>`"
        out[name] = (
            match[1],
            [str(d) if isinstance(d, str) else next(iter(d)) for d in stage["deps"]],
        )
    return out


def covered(path: Path, deps: list[str]) -> bool:
    text = path.as_posix()
    return any(text == d.rstrip("/") or text.startswith(d.rstrip("/") + "/") for d in deps)


def test_the_import_walk_sees_function_level_and_package_imports():
    files = {p.as_posix() for p in stage_modules("capo.pipelines.ingest")}
    assert "capo/data/hf_source.py" in files  # imported inside read_source
    assert {"capo/__init__.py", "capo/params/__init__.py", "capo/pipelines/_stage.py"} <= files
    assert {"capo/core/loss.py", "capo/core/trainer.py"}.isdisjoint(files)  # capo's lazy names
    assert "capo/data/ingest.py" not in {
        p.as_posix() for p in stage_modules("capo.pipelines.validate")
    }
    lazy = {p.as_posix() for p in stage_modules("capo.train")}
    assert {"capo/core/trainer.py", "capo/core/loss.py"} <= lazy


@pytest.mark.parametrize("stage", sorted(stage_entry_points()))
def test_every_imported_module_is_a_dep_of_its_stage(stage):
    entry, deps = stage_entry_points()[stage]
    missing = sorted(p.as_posix() for p in stage_modules(entry) if not covered(p, deps))
    assert not missing, f"dvc.yaml stage {stage!r} imports these but does not list them: {missing}"


def test_the_noise_study_lists_every_module_it_imports():
    stage = yaml.safe_load((ROOT / "studies/noise/dvc.yaml").read_text(encoding="utf-8"))
    deps = [d for d in stage["stages"]["study"]["deps"] if isinstance(d, str)]
    missing = sorted(
        p.as_posix() for p in stage_modules("capo.pipelines.study") if not covered(p, deps)
    )
    assert not missing, f"studies/noise/dvc.yaml imports these but does not list them: {missing}"


def test_bytecode_caches_are_not_part_of_any_directory_dep():
    """capo/data, capo/params, ... are directory deps: if DVC hashed their __pycache__, every
    fresh clone (or a new Python) would see changed deps and rerun the whole pipeline."""
    import subprocess

    from tests.conftest import dvc_bin

    paths = ["capo/data/__pycache__/ingest.cpython-311.pyc", "capo/params/x.pyc"]
    proc = subprocess.run(
        [dvc_bin(), "check-ignore", *paths], cwd=ROOT, capture_output=True, text=True
    )
    assert proc.returncode == 0 and proc.stdout.split() == paths
    kept = subprocess.run([dvc_bin(), "check-ignore", "capo/data/ingest.py"], cwd=ROOT)
    assert kept.returncode == 1  # the code itself is hashed


def _stale(entry: str, deps: list[str]) -> list[str]:
    files = {p.as_posix() for p in stage_modules(entry)}
    return sorted(
        d for d in deps if d.startswith("capo/") and not any(covered(Path(f), [d]) for f in files)
    )


@pytest.mark.parametrize("stage", sorted(stage_entry_points()))
def test_every_code_dep_of_a_stage_is_code_it_runs(stage):
    """A listed file or folder the stage never imports reruns it for nothing (or names a file
    that moved away)."""
    entry, deps = stage_entry_points()[stage]
    stale = _stale(entry, deps)
    assert not stale, f"dvc.yaml stage {stage!r} lists code it does not import: {stale}"


def test_the_noise_study_lists_only_code_it_runs():
    stage = yaml.safe_load((ROOT / "studies/noise/dvc.yaml").read_text(encoding="utf-8"))
    deps = [d for d in stage["stages"]["study"]["deps"] if isinstance(d, str)]
    assert not _stale("capo.pipelines.study", deps)
    assert _stale("capo.pipelines.study", [*deps, "capo/reporting/plots.py"]) == [
        "capo/reporting/plots.py"
    ]
