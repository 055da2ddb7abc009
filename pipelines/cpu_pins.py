"""CPU numerics pinned for pipeline processes: the same bytes on any x86-64 machine with AVX2.

Float results on the CPU depend on which kernels run and how work is split: ATen picks its
vectorised kernels by the CPU (default, avx2, avx512), MKL its BLAS code path, oneDNN its
ISA, and a parallel reduction adds its partial sums in an order set by the thread count.
A process started as ``python -m capo_pipelines.<x>`` (every DVC stage) pins them from one
setting, the environment variable CAPO_CPU_PINS (README, "Reproducible outputs"):

    CAPO_CPU_PINS unset or empty    isa=avx2,threads=2 (the default)
    CAPO_CPU_PINS=isa=avx2,threads=4   another thread count (other bytes)
    CAPO_CPU_PINS=threads=2         threads only: kernels as the CPU picks them
    CAPO_CPU_PINS=off               nothing pinned

``isa`` sets ATEN_CPU_CAPABILITY, MKL_CBWR and ONEDNN_MAX_CPU_ISA together (ISA_ENV),
overriding values already in the environment: the package's __init__ does it when the
process starts, before torch (and MKL) load, which is the only time they are read.
``threads`` is torch's intra-op thread count, set as torch is imported (torch caps
OMP_NUM_THREADS at the machine's cores, so the variable alone cannot pin it). On a CPU
without AVX2, or not x86-64, the isa is left to the machine and the stage log says so.
The setting is parsed once into a CpuPins; a malformed one is reported by the stage runner
as one line (exit 3) before the stage's main runs, with nothing pinned.
"""

from __future__ import annotations

import importlib.abc
import importlib.util
import logging
import os
import platform
import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType

from capo.errors import CapoError

__all__ = [
    "DEFAULT",
    "ENV",
    "ISA_ENV",
    "CpuPins",
    "cpu_has_avx2",
    "describe_stage",
    "is_pipeline_process",
    "parse",
    "pin_process",
]

ENV = "CAPO_CPU_PINS"
DEFAULT = "isa=avx2,threads=2"
# isa -> the variables that limit ATen's kernels, MKL's code path and oneDNN's ISA to it.
# avx2 is the common denominator of x86-64 CPUs with AVX2 (an AVX-512 CPU would otherwise
# run avx512 kernels); default is ATen's unvectorised kernels and MKL's COMPATIBLE path.
ISA_ENV: dict[str, dict[str, str]] = {
    "avx2": {"ATEN_CPU_CAPABILITY": "avx2", "MKL_CBWR": "AVX2", "ONEDNN_MAX_CPU_ISA": "AVX2"},
    "default": {
        "ATEN_CPU_CAPABILITY": "default",
        "MKL_CBWR": "COMPATIBLE",
        "ONEDNN_MAX_CPU_ISA": "SSE41",
    },
}
MAX_THREADS = 1024

logger = logging.getLogger("capo_pipelines.cpu_pins")


@dataclass(frozen=True)
class CpuPins:
    """What a pipeline process pins: ``isa`` (an ISA_ENV key) and torch's thread count;
    None leaves that one to the machine."""

    isa: str | None = "avx2"
    threads: int | None = 2

    def env(self) -> dict[str, str]:
        """The environment variables ``isa`` sets (none for None)."""
        return dict(ISA_ENV[self.isa]) if self.isa else {}

    def __str__(self) -> str:
        parts = [f"isa={self.isa}"] if self.isa else []
        parts += [f"threads={self.threads}"] if self.threads else []
        return ",".join(parts) or "off"


def parse(text: str | None) -> CpuPins:
    """CpuPins from CAPO_CPU_PINS's value (None or empty: DEFAULT); a CapoError naming the
    problem in one line."""
    text = (text or "").strip() or DEFAULT
    if text.lower() == "off":
        return CpuPins(isa=None, threads=None)
    isa: str | None = None
    threads: int | None = None
    for item in filter(None, (part.strip() for part in text.split(","))):
        key, sep, value = (s.strip() for s in item.partition("="))
        if key == "isa" and sep and value in ISA_ENV:
            isa = value
        elif key == "threads" and sep and value.isdigit() and 1 <= int(value) <= MAX_THREADS:
            threads = int(value)
        else:
            raise CapoError(
                f"{ENV}={text!r}: {item!r} is not isa=<{'|'.join(ISA_ENV)}> or "
                f"threads=<1..{MAX_THREADS}> (comma-separated), or off"
            )
    return CpuPins(isa=isa, threads=threads)


# What this process pinned (pin_process), the setting's error if it was malformed, and
# whether torch had been imported before (too late for the isa variables).
_applied: CpuPins | None = None
_problem: CapoError | None = None
_torch_first = False
_isa_skipped = ""


def is_pipeline_process(argv: Sequence[str] | None = None) -> bool:
    """True when the interpreter was started as ``python [-u ...] -m capo_pipelines.<x>``."""
    argv = list(getattr(sys, "orig_argv", []) if argv is None else argv)
    args = iter(argv[1:])
    for arg in args:
        if arg == "-m":
            return next(args, "").startswith("capo_pipelines.")
        if arg.startswith("-m"):
            return arg[2:].startswith("capo_pipelines.")
        if arg in ("-X", "-W"):  # an option with its value next
            next(args, None)
        elif not arg.startswith("-") or arg.startswith("-c"):
            return False  # a script or -c's code: the interpreter's options end there
    return False


def cpu_has_avx2(cpuinfo: Path = Path("/proc/cpuinfo")) -> bool:
    """An x86-64 CPU whose flags (Linux's /proc/cpuinfo) include avx2 and fma."""
    if platform.machine().lower() not in ("x86_64", "amd64"):
        return False
    try:
        text = cpuinfo.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return False
    for line in text.splitlines():
        if line.startswith("flags"):
            flags = set(line.partition(":")[2].split())
            return {"avx2", "fma"} <= flags
    return False


def pin_process(environ: Mapping[str, str] | None = None) -> CpuPins | None:
    """Parse CAPO_CPU_PINS and pin this process: the isa's variables into os.environ now,
    torch's thread count when torch is imported (now, if it already is). Called by the
    package's __init__ in a pipeline process; a malformed setting pins nothing and is kept
    for describe_stage to raise."""
    global _applied, _problem, _torch_first, _isa_skipped
    environ = os.environ if environ is None else environ
    try:
        pins = parse(environ.get(ENV))
    except CapoError as err:
        _problem = err
        return None
    _torch_first = "torch" in sys.modules
    if pins.isa == "avx2" and not cpu_has_avx2():
        _isa_skipped = f"this CPU ({platform.machine()}) lacks AVX2: kernels left to it"
    elif pins.isa == "default" and platform.machine().lower() not in ("x86_64", "amd64"):
        _isa_skipped = f"not x86-64 ({platform.machine()}): kernels left to it"
    else:
        os.environ.update(pins.env())
    if pins.threads:
        _after_import("torch", lambda torch: torch.set_num_threads(pins.threads))
    _applied = pins
    return pins


def describe_stage() -> str | None:
    """What this process pinned, in one line for the stage log (None outside a pipeline
    process); a malformed CAPO_CPU_PINS raises its CapoError here, inside the stage
    runner, so it exits 3 with one line."""
    if _problem is not None:
        raise _problem
    if _applied is None:
        return None
    if _applied.isa is None and _applied.threads is None:
        return f"cpu pins: off ({ENV}=off): kernels and threads as this machine picks them"
    if _isa_skipped:
        isa = f"isa not pinned ({_isa_skipped})"
    elif _applied.isa:
        isa = "isa " + ", ".join(f"{k}={v}" for k, v in _applied.env().items())
        if _torch_first:
            isa += " (torch was imported first: ATen and MKL may not follow)"
    else:
        isa = "isa as this CPU picks it"
    threads = f"{_applied.threads} torch threads" if _applied.threads else "threads unpinned"
    torch = sys.modules.get("torch")
    if torch is not None:  # what torch runs with, when the stage module imported it
        threads += (
            f" (torch: {torch.backends.cpu.get_cpu_capability()} kernels, "
            f"{torch.get_num_threads()} threads)"
        )
    return f"cpu pins: {isa}; {threads}; override with {ENV}"


def _after_import(name: str, callback: Callable[[ModuleType], object]) -> None:
    """Run ``callback(module)`` once the top-level module ``name`` is imported: now if it
    is, else right after its import (a finder first on sys.meta_path wraps its loader)."""
    if name in sys.modules:
        callback(sys.modules[name])
        return
    sys.meta_path.insert(0, _AfterImport(name, callback))


class _AfterImport(importlib.abc.MetaPathFinder):
    """Finds ``name`` through the finders after it, its loader wrapped to run ``callback``
    after the module executes. It stays first on sys.meta_path until then: a
    ``find_spec(name)`` that only asks whether the module exists (transformers does, before
    importing torch) gets a spec that is never executed."""

    def __init__(self, name: str, callback: Callable[[ModuleType], object]) -> None:
        self.name, self.callback = name, callback

    def find_spec(self, fullname, path=None, target=None):
        if fullname != self.name or self not in sys.meta_path:
            return None
        index = sys.meta_path.index(self)
        spec = None
        for finder in sys.meta_path[index + 1 :]:
            find = getattr(finder, "find_spec", None)
            spec = find(fullname, path, target) if find else None
            if spec is not None:
                break
        if spec is None or spec.loader is None or not hasattr(spec.loader, "exec_module"):
            return spec
        exec_module = spec.loader.exec_module

        def run(module: ModuleType) -> None:
            exec_module(module)
            if self in sys.meta_path:
                sys.meta_path.remove(self)
            self.callback(module)

        spec.loader.exec_module = run  # this spec's own loader instance
        return spec
