"""Write every stage's code deps in dvc.yaml (and the studies' dvc.yaml files) from the imports.

    python scripts/dvc_deps.py            # rewrite the code deps of every stage in place
    python scripts/dvc_deps.py --check    # exit 1 and print the difference if any is stale

A stage's code is every module of capo/ (the core) and pipelines/ (import name
capo_pipelines) that its `python -m capo_pipelines.<stage>` imports, transitively. The
imports are read statically (ast), counting the package __init__ files Python runs on the
way and imports inside functions; imports that never run are left out: those under `if
TYPE_CHECKING:` and those in a package's lazy `__getattr__` (PEP 562), unless the stage
imports a lazy name from it. A folder whose every module the stage imports is listed as the
folder (only folders that hold nothing but Python modules); the rest file by file. Data deps
(anything not under capo/ or pipelines/) are kept as written, first. tests/test_dvc_deps.py
runs --check, so CI fails when dvc.yaml and the imports disagree.
"""

from __future__ import annotations

import argparse
import ast
import difflib
import re
import sys
from collections.abc import Iterable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
# import name -> folder under ROOT
PACKAGES = {"capo": "capo", "capo_pipelines": "pipelines"}
CODE_ROOTS = tuple(f"{folder}/" for folder in PACKAGES.values())
PIPELINES = ("dvc.yaml", "studies/noise/dvc.yaml", "studies/smollm2/dvc.yaml")
ENTRY = re.compile(r"python -m (capo_pipelines\.\w+)")


def module_file(name: str) -> Path | None:
    """The file of module ``name`` under ROOT (a package's __init__.py), or None."""
    top, *rest = name.split(".")
    if top not in PACKAGES:
        return None
    base = ROOT.joinpath(PACKAGES[top], *rest)
    for path in (base / "__init__.py", base.with_suffix(".py")):  # a package wins, as in Python
        if path.is_file():
            return path
    return None


def module_name(path: Path) -> str:
    """The import name of a file under capo/ or pipelines/ (a package: without __init__)."""
    folder, *rest = path.resolve().relative_to(ROOT).with_suffix("").parts
    top = next(k for k, v in PACKAGES.items() if v == folder)
    return ".".join([top, *rest]).removesuffix(".__init__")


def _with_parents(name: str) -> list[str]:
    parts = name.split(".")
    return [".".join(parts[: i + 1]) for i in range(len(parts))]


def _is_lazy(node: ast.AST) -> bool:
    """`if TYPE_CHECKING:` or a module's `def __getattr__`: its imports run only on demand."""
    if isinstance(node, ast.If):
        return isinstance(node.test, ast.Name) and node.test.id == "TYPE_CHECKING"
    return isinstance(node, ast.FunctionDef) and node.name == "__getattr__"


def absolute(node: ast.ImportFrom, package: str) -> str:
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
            base = absolute(node, package)
            out += [base, *(f"{base}.{alias.name}" for alias in node.names)]
        out += _imports(ast.iter_child_nodes(node), package)
    return out


def _lazy_source(package: str, name: str) -> list[str]:
    """Modules a lazy package's name comes from: what its __init__ imports as ``name``
    (under `if TYPE_CHECKING:` or in a `_LAZY` table of "name": "module" strings)."""
    path = module_file(package)
    tree = ast.parse(path.read_text(encoding="utf-8")) if path else ast.Module([], [])
    found = [
        absolute(node, package)
        for node in ast.walk(tree)
        if isinstance(node, ast.ImportFrom) and name in {a.asname or a.name for a in node.names}
    ]
    for node in ast.walk(tree):
        if isinstance(node, ast.Dict):
            for key, value in zip(node.keys, node.values, strict=True):
                named = isinstance(key, ast.Constant) and key.value == name
                if named and isinstance(value, ast.Constant) and isinstance(value.value, str):
                    found.append(value.value)
    return found


def imported(path: Path) -> set[str]:
    """Names of capo and capo_pipelines modules that ``path`` imports (with their parents)."""
    here = module_name(path)
    package = here if path.name == "__init__.py" else here.rsplit(".", 1)[0]
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
    """Files (relative to ROOT) of every module that running ``python -m entry`` imports."""
    todo, seen = _with_parents(entry), set()
    while todo:
        name = todo.pop()
        path = module_file(name)
        if name in seen or path is None:
            continue
        seen.add(name)
        todo.extend(imported(path))
    return {module_file(name).relative_to(ROOT) for name in seen}


def _python_only(folder: Path) -> list[Path] | None:
    """The .py files under ``folder``, or None if it holds anything else DVC would hash."""
    files = [
        p
        for p in folder.rglob("*")
        if p.is_file() and "__pycache__" not in p.parts and p.suffix != ".pyc"
    ]
    return None if any(p.suffix != ".py" for p in files) else files


def code_deps(entry: str) -> list[str]:
    """The code deps of a stage: whole folders where it imports every module, then files."""
    files = {p.as_posix() for p in stage_modules(entry)}
    folders: list[str] = []
    for folder in sorted({str(Path(f).parent) for f in files}, key=lambda f: (f.count("/"), f)):
        if folder in PACKAGES.values() or any(folder.startswith(d + "/") for d in folders):
            continue  # never a whole package root; nothing inside a folder already listed
        inside = _python_only(ROOT / folder)
        if inside and all(p.relative_to(ROOT).as_posix() in files for p in inside):
            folders.append(folder)
    rest = sorted(f for f in files if not any(f.startswith(d + "/") for d in folders))
    return [*folders, *rest]


def _stage_blocks(text: str) -> list[tuple[str, str, int, int]]:
    """(stage, entry module, first line, end line) of each stage's code deps in ``text``:
    the `deps:` list items under capo/ or pipelines/ (they follow the data deps)."""
    lines = text.splitlines()
    out = []
    stage = entry = None
    i = 0
    while i < len(lines):
        line = lines[i]
        m = re.match(r"^  (\w+):\s*$", line)
        if m and not line.startswith("   "):
            stage, entry = m[1], None
        found = ENTRY.search(line)
        if found and stage:
            entry = found[1]
        if re.match(r"^    deps:\s*$", line) and stage and entry:
            j = i + 1
            start = end = None
            while j < len(lines) and lines[j].startswith("      - "):
                dep = lines[j].removeprefix("      - ").strip()
                if dep.startswith(CODE_ROOTS):
                    start = j if start is None else start
                    end = j + 1
                elif start is not None:
                    raise SystemExit(f"stage {stage}: a data dep {dep!r} after the code deps")
                j += 1
            if start is None:
                start = end = j
            out.append((stage, entry, start, end))
            i = j
            continue
        i += 1
    return out


def regenerate(text: str) -> str:
    """``text`` (a dvc.yaml) with every stage's code deps written from its imports."""
    lines = text.splitlines()
    for _stage, entry, start, end in reversed(_stage_blocks(text)):
        lines[start:end] = [f"      - {dep}" for dep in code_deps(entry)]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--check", action="store_true", help="only report stale deps")
    args = parser.parse_args(argv)
    stale = 0
    for name in PIPELINES:
        path = ROOT / name
        old = path.read_text(encoding="utf-8")
        new = regenerate(old)
        if new == old:
            continue
        if args.check:
            stale += 1
            sys.stdout.writelines(
                difflib.unified_diff(
                    old.splitlines(True), new.splitlines(True), name, f"{name} (from the imports)"
                )
            )
        else:
            path.write_text(new, encoding="utf-8")
            print(f"{name}: code deps rewritten")
    if stale:
        print("stale code deps: run `python scripts/dvc_deps.py`", file=sys.stderr)
    return 1 if stale else 0


if __name__ == "__main__":
    sys.exit(main())
