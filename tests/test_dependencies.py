"""The dependency declarations match the code: every third-party import is declared by the
distribution that ships the importing module, every declared dependency is imported (or is a
tool or plugin listed below, with why), and no lower bound is below what a pinned dependency
itself requires.

Two distributions: the core ``capo`` (capo/, the root pyproject.toml) and the workflow
``capo-pipelines`` (pipelines/, pipelines/pyproject.toml), which depends on the core and so
inherits its dependencies. The imports are read statically (ast), those inside functions
included; a module is mapped to the distributions that install it through the installed
distributions' file lists (importlib.metadata), down to the submodule where several share a
namespace (``xstatic.pkg.jquery`` is XStatic-jQuery's). The DVC stages run only
``python -m capo_pipelines.<stage>`` (checked here), so no script outside these folders is
part of what is installed.
"""

from __future__ import annotations

import ast
import importlib.metadata as md
import re
import sys
import tomllib
from collections import defaultdict
from functools import cache
from pathlib import Path

import pytest
import yaml
from packaging.requirements import Requirement
from packaging.version import Version

ROOT = Path(__file__).resolve().parents[1]
CORE, WORKFLOW = "capo", "capo-pipelines"
PYPROJECT = {CORE: ROOT / "pyproject.toml", WORKFLOW: ROOT / "pipelines" / "pyproject.toml"}
CODE = {CORE: ROOT / "capo", WORKFLOW: ROOT / "pipelines"}
FIRST_PARTY = {"capo", "capo_pipelines", "tests"}
DEV_EXTRA = "dev"  # its dependencies are imported by tests/, not by the package

# Declared but imported by nothing in the distribution's code, on purpose: a tool run as a
# command, a plugin another package loads, or a constraint on what a dependency imports.
RUNTIME_ONLY = {
    CORE: {
        # capo.config uses transformers 5's argument names (activation_checkpointing) and trl
        # 1.16 allows transformers 4.56 too: this keeps trl's transformers on 5
        "transformers": "a constraint on trl's transformers",
        # CAPOTrainer(peft_config=...) trains LoRA adapters inside trl, which declares peft only
        # as an extra
        "peft": "trl's LoRA path",
        # CAPOTrainer's train/eval datasets are datasets.Dataset; trl 1.16 itself requires >=4.7
        "datasets": "the trainer's dataset type",
    },
    WORKFLOW: {
        "gguf": "transformers reads .gguf files with it (pipelines/models/gguf.py)",
        "gto": "run as a command: `gto register/assign/show` (pipelines/register_commands.py)",
        "lm-eval": "runs capo's task files (pipelines/lm_eval_tasks) as `lm_eval`",
        "pytest-timeout": "a pytest plugin: the timeout of [tool.pytest.ini_options]",
        "ruff": "the linter, run as a command (make lint)",
        "dvc-s3": "a DVC plugin: s3:// remotes (`dvc remote add`)",
        "dvc-gs": "a DVC plugin: gs:// remotes",
    },
}
# Dependencies pinned to one release line: the floors they declare themselves bind ours.
PINNED = ("trl", "great-expectations")


def normalize(name: str) -> str:
    """A distribution name as PEP 503 compares it."""
    return re.sub(r"[-_.]+", "-", name).lower()


def declared(dist: str) -> dict[str, dict[str, Requirement]]:
    """{"": main dependencies, extra: its dependencies} by normalized name."""
    project = tomllib.loads(PYPROJECT[dist].read_text(encoding="utf-8"))["project"]
    groups = {"": project.get("dependencies", [])} | project.get("optional-dependencies", {})
    return {
        group: {normalize(r.name): r for r in map(Requirement, reqs)}
        for group, reqs in groups.items()
    }


def allowed(dist: str) -> set[str]:
    """What code of ``dist`` may import: its own dependencies (extras too), and the core's."""
    names = {name for group in declared(dist).values() for name in group}
    return names | (allowed(CORE) if dist == WORKFLOW else set())


def imports(folder: Path) -> dict[str, set[str]]:
    """Absolute imports of every module under ``folder``: dotted name -> files. For
    ``from a.b import c`` both ``a.b`` and ``a.b.c`` are listed (c may be a submodule)."""
    found: dict[str, set[str]] = defaultdict(set)
    for path in sorted(folder.rglob("*.py")):
        where = str(path.relative_to(ROOT))
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
            if isinstance(node, ast.Import):
                for alias in node.names:
                    found[alias.name].add(where)
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                found[node.module].add(where)
                for alias in node.names:
                    found[f"{node.module}.{alias.name}"].add(where)
    return {
        name: files
        for name, files in found.items()
        if name.split(".")[0] not in sys.stdlib_module_names | FIRST_PARTY
    }


@cache
def _modules_of(dist: str) -> frozenset[str]:
    """Every dotted module name (and package prefix) that installed ``dist`` provides."""
    names = set()
    for file in md.distribution(dist).files or ():
        parts = file.parts
        if not parts or parts[0] == ".." or parts[0].endswith((".dist-info", ".data")):
            continue
        if file.suffix not in (".py", ".pyi", ".so", ".pyd"):
            continue
        dotted = [*parts[:-1], parts[-1].split(".")[0]]
        if dotted[-1] == "__init__":
            dotted.pop()
        names.update(".".join(dotted[:i]) for i in range(1, len(dotted) + 1))
    return frozenset(names)


@cache
def _top_level() -> dict[str, list[str]]:
    return md.packages_distributions()


def owners(module: str) -> set[str]:
    """The installed distributions that provide ``module`` (or the module of the name
    ``module``), by normalized name: those of its top package, narrowed to the ones that hold
    its longest known prefix where several share that package."""
    candidates = _top_level().get(module.split(".")[0], [])
    if len(set(map(normalize, candidates))) <= 1:
        return set(map(normalize, candidates))
    parts = module.split(".")
    for i in range(len(parts), 0, -1):
        prefix = ".".join(parts[:i])
        holders = {normalize(d) for d in candidates if prefix in _modules_of(d)}
        if holders:
            return holders
    return set(map(normalize, candidates))


def _resolved(found: dict[str, set[str]]) -> dict[str, set[str]]:
    """Imported name -> the distributions that provide it."""
    return {name: owners(name) for name in sorted(found)}


@pytest.mark.parametrize("dist", [CORE, WORKFLOW])
def test_every_third_party_import_is_declared(dist):
    may = allowed(dist)
    problems = []
    for name, dists in _resolved(imports(CODE[dist])).items():
        files = sorted(imports(CODE[dist])[name])
        if not dists:
            problems.append(f"{name} ({files[0]}): installed by no distribution")
        elif not dists & may:
            problems.append(f"{name} ({files[0]}): from {sorted(dists)}, not declared")
    assert not problems, f"{PYPROJECT[dist].relative_to(ROOT)}:\n" + "\n".join(problems)


@pytest.mark.parametrize("dist", [CORE, WORKFLOW])
def test_every_declared_dependency_is_imported_or_listed_as_runtime_only(dist):
    used = {d for dists in _resolved(imports(CODE[dist])).values() for d in dists}
    tests_use = {d for dists in _resolved(imports(ROOT / "tests")).values() for d in dists}
    runtime_only = {normalize(name) for name in RUNTIME_ONLY[dist]}
    groups = declared(dist)
    unused = []
    for group, reqs in groups.items():
        for name in reqs:
            if name == normalize(CORE):  # the workflow's dependency on the core
                continue
            if name in used or name in runtime_only:
                continue
            if group == DEV_EXTRA and name in tests_use:
                continue
            unused.append(f"{name} ({group or 'dependencies'})")
    assert not unused, f"{PYPROJECT[dist].relative_to(ROOT)} declares, nothing imports: {unused}"
    every = {name for reqs in groups.values() for name in reqs}
    assert runtime_only <= every, f"RUNTIME_ONLY lists undeclared {runtime_only - every}"


def _floor(req: Requirement) -> Version | None:
    """The lowest version ``req`` allows (its largest >=, ==, ~= bound), None if unbounded."""
    floors = [
        Version(s.version.removesuffix(".*"))
        for s in req.specifier
        if s.operator in (">=", "==", "~=", "===")
    ]
    return max(floors, default=None)


def test_no_lower_bound_is_below_what_a_pinned_dependency_requires():
    ours = {}
    for dist in (CORE, WORKFLOW):
        for group, reqs in declared(dist).items():
            ours.update({(dist, group, name): req for name, req in reqs.items()})
    too_low = []
    for pinned in PINNED:
        for text in md.requires(pinned) or ():
            theirs = Requirement(text)
            if theirs.marker is not None and not theirs.marker.evaluate({"extra": ""}):
                continue
            need = _floor(theirs)
            for (dist, group, name), req in ours.items():
                if name != normalize(theirs.name) or need is None:
                    continue
                have = _floor(req)
                if have is None or have < need:
                    too_low.append(f"{dist} {group or 'dependencies'}: {req} < {pinned}'s {theirs}")
    assert not too_low, "\n".join(too_low)


def test_the_pipeline_runs_only_installed_modules():
    """Every DVC stage runs `python -m capo_pipelines.<module>`: no script outside the
    distributions checked above is part of the pipeline."""
    for dvc_file in (ROOT / "dvc.yaml", ROOT / "studies" / "noise" / "dvc.yaml"):
        for name, stage in yaml.safe_load(dvc_file.read_text(encoding="utf-8"))["stages"].items():
            spec = stage.get("do", stage)
            for cmd in [spec["cmd"]] if isinstance(spec["cmd"], str) else spec["cmd"]:
                assert re.fullmatch(r"python -m capo_pipelines\.\w+( .*)?", cmd, re.S), (
                    f"{dvc_file.name} {name}: {cmd}"
                )


def test_the_mapping_resolves_a_shared_namespace_to_its_package():
    """xstatic.pkg.* are three distributions' modules: each import names its own one."""
    assert owners("xstatic.pkg.jquery") == {"xstatic-jquery"}
    assert owners("xstatic.pkg.font_awesome") == {"xstatic-font-awesome"}
    assert owners("yaml") == {"pyyaml"} and owners("lingua") == {"lingua-language-detector"}
