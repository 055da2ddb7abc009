"""Shared plumbing for stage entry points: logging set-up, the params check, clean exits.

    if __name__ == "__main__":
        run_stage("train", main)

run_stage checks the whole params file before main() runs, turns SIGTERM and SIGHUP into
SystemExit(128 + signal) so context managers and finally blocks run (the study's temporary
Prefect server and Dask cluster close), stops what main() started and left running, and maps
errors to the exit codes of the README ("Exit codes"): 0 ok, 1 unexpected failure, 2 usage
(argparse), 3 bad input or params (a CapoError, one line), 128+N stopped by signal N. A full
disk is one line too, exit 1.
"""

from __future__ import annotations

import atexit
import contextlib
import errno
import logging
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

import psutil

from capo.errors import EXIT_INPUT, CapoError
from capo_pipelines.cpu_pins import describe_stage

__all__ = [
    "QUIET_LOGGERS",
    "check_params",
    "clean_exit",
    "no_space_path",
    "output",
    "quiet_loggers",
    "run_stage",
    "tool",
    "tool_env",
]

# libraries whose INFO lines are one per request or per cluster event: WARNING and up unless
# CAPO_LOG_LEVEL=DEBUG (distributed resets its level on import: see quiet_loggers)
QUIET_LOGGERS = ("httpx", "httpcore", "distributed")
STOP_SIGNALS = (signal.SIGTERM, signal.SIGHUP)
REAP_GRACE = 5.0  # seconds a leftover child has between SIGTERM and SIGKILL
EXIT_GRACE = 60.0  # seconds a stopped stage has to unwind (threads, atexit) before it is cut
# torch.save's messages when its writer fails (PytorchStreamWriter: a full disk, mostly)
TORCH_WRITE_FAILED = ("inline_container", "iostream error", "file write failed")
LOW_SPACE = 1 << 30  # under 1 GiB free, a failed torch write reads as a full disk


def run_stage(name: str, main: Callable[[], None], argv: Sequence[str] | None = None) -> None:
    """Run a stage's main() under clean_exit, after checking its whole params file.

    The CPU pins the package applied as the process started (cpu_pins) are logged once the
    params are checked.

    The params file is the ``--params`` argument of ``argv`` (default: sys.argv[1:]), else
    params.yaml in the working directory when there is one; `--help` skips the check.
    """
    logging.basicConfig(
        level=os.environ.get("CAPO_LOG_LEVEL", "INFO"),
        format=f"%(asctime)s {name} %(levelname)s %(message)s",
        datefmt="%H:%M:%S",
    )
    quiet_loggers()
    argv = list(sys.argv[1:] if argv is None else argv)
    with clean_exit(name, outputs=_outputs(argv)):
        check_params(argv)  # a bad params file: its error is the first line
        pins = describe_stage()  # a malformed CAPO_CPU_PINS: one line, exit 3
        if pins:
            logging.getLogger(f"capo_pipelines.{name}").info(pins)
        main()


def check_params(argv: Sequence[str]) -> None:
    """Parse the whole params file a stage's command line names, as `capo check-params` does;
    a ParamsError (an unknown key, a wrong type) names the file and the dotted key."""
    if "-h" in argv or "--help" in argv:
        return
    path = _option(argv, "--params")
    if path is None:
        if not Path("params.yaml").is_file():
            return  # the stage has no params file here; it says so itself if it needs one
        path = "params.yaml"
    from capo_pipelines.params import load_params

    load_params(path)


@contextlib.contextmanager
def clean_exit(name: str, outputs: str | Path | None = None) -> Iterator[None]:
    """The body's exit, made clean.

    - SIGTERM and SIGHUP raise SystemExit(128 + signal) in this (main) thread, once: a second
      one while it unwinds is ignored, and the unwinding has EXIT_GRACE seconds.
    - A CapoError exits EXIT_INPUT with one line ``<name>: error: ...``.
    - A full disk (no_space_path) exits 1 with one line naming where it was writing
      (``outputs`` when the error names no file, else the working directory).
    - Child processes started in the body and still alive at its end get SIGTERM, then
      SIGKILL after REAP_GRACE seconds, however the body ended: at interpreter exit, after
      the libraries' own exit work (Prefect drains its logs to the temporary API server it
      started, then stops it; killing that server first would leave the drain retrying).
    """
    stopping: list[int] = []

    def stop(signum: int, _frame: object) -> None:
        if stopping:  # already unwinding: let it finish
            return
        stopping.append(signum)
        print(f"{name}: stopping ({signal.Signals(signum).name})", file=sys.stderr, flush=True)
        _exit_within(EXIT_GRACE, 128 + signum, before)
        raise SystemExit(128 + signum)

    before = set(_descendants())
    left: list[psutil.Process] = []  # filled when the body ends; reaped at exit, after what
    # the body registered with atexit (this hook is older, so it runs later)

    def reap_left() -> None:
        _reap(left)

    atexit.register(reap_left)
    previous = _install(stop)
    try:
        yield
    except CapoError as err:
        print(f"{name}: error: {err}", file=sys.stderr)
        raise SystemExit(EXIT_INPUT) from None
    except KeyboardInterrupt:
        print(f"{name}: interrupted", file=sys.stderr)
        raise SystemExit(128 + signal.SIGINT) from None
    except Exception as err:
        where = no_space_path(err, outputs)
        if where is None:
            raise
        print(
            f"{name}: error: no space left on device while writing {where}; free space and rerun",
            file=sys.stderr,
        )
        raise SystemExit(1) from None
    finally:
        stopping.append(0)  # a stop signal already on its way is ignored
        _restore(previous)
        left.extend(_leftovers(before))
        if not left:
            atexit.unregister(reap_left)


def no_space_path(
    err: BaseException, outputs: str | Path | None = None, low_space: int = LOW_SPACE
) -> str | None:
    """Where a full disk stopped a write, if ``err`` (or its cause) is one, else None.

    An OSError with errno ENOSPC (its file name, else ``outputs``, else the working
    directory), an error whose message says "No space left on device" (safetensors, pyarrow),
    or torch.save's failed write (TORCH_WRITE_FAILED) while the disk holding ``outputs`` (else
    the working directory) has under ``low_space`` bytes free.
    """
    fallback = str(outputs) if outputs else os.getcwd()
    seen: set[int] = set()
    cause: BaseException | None = err
    while cause is not None and id(cause) not in seen:
        seen.add(id(cause))
        text = str(cause)
        if isinstance(cause, OSError) and cause.errno == errno.ENOSPC:
            return str(cause.filename or cause.filename2 or fallback)
        if "No space left on device" in text or "os error 28" in text:
            return str(getattr(cause, "filename", None) or fallback)
        if isinstance(cause, RuntimeError) and any(m in text for m in TORCH_WRITE_FAILED):
            free = _free_bytes(fallback)
            if free is not None and free < low_space:
                return fallback
        cause = cause.__cause__ or cause.__context__
    return None


def reap_children(exclude: set[int] = frozenset(), grace: float = REAP_GRACE) -> list[int]:
    """SIGTERM every descendant of this process not in ``exclude``, SIGKILL the ones still
    alive after ``grace`` seconds; the pids signalled."""
    return _reap(_leftovers(exclude), grace)


def _leftovers(exclude: set[int]) -> list[psutil.Process]:
    """This process's descendants not in ``exclude`` (a pid reused by the time they are reaped
    is left alone: psutil checks the process's start time). multiprocessing's resource tracker
    is left out: it ignores SIGTERM, and ends by itself after this process, unlinking what was
    left registered."""
    tracker = _resource_tracker_pid()
    procs = []
    for pid in _descendants():
        if pid not in exclude and pid != tracker:
            with contextlib.suppress(psutil.Error):
                procs.append(psutil.Process(pid))
    return procs


def _reap(procs: list[psutil.Process], grace: float = REAP_GRACE) -> list[int]:
    """SIGTERM ``procs`` (see _leftovers), SIGKILL those alive after ``grace`` seconds."""
    procs = [p for p in procs if _running(p)]
    if not procs:
        return []
    for proc in procs:
        with contextlib.suppress(psutil.Error):
            proc.terminate()
    _, alive = psutil.wait_procs(procs, timeout=grace)
    for proc in alive:
        with contextlib.suppress(psutil.Error):
            proc.kill()
    psutil.wait_procs(alive, timeout=grace)
    pids = [p.pid for p in procs]
    print(f"stopped {len(pids)} process(es) left running: {pids}", file=sys.stderr)
    return pids


def _install(handler: Callable) -> dict[int, object]:
    """``handler`` for STOP_SIGNALS; the previous handlers (none outside the main thread)."""
    previous: dict[int, object] = {}
    if threading.current_thread() is not threading.main_thread():
        return previous
    for sig in STOP_SIGNALS:
        previous[sig] = signal.signal(sig, handler)
    return previous


def _restore(previous: dict[int, object]) -> None:
    for sig, handler in previous.items():
        signal.signal(sig, handler if handler is not None else signal.SIG_DFL)


def _exit_within(seconds: float, code: int, exclude: set[int]) -> None:
    """A watchdog: if this process is still unwinding after ``seconds`` (a thread that will
    not end: a trial running in the sequential engine), stop its children and exit."""

    def cut() -> None:
        time.sleep(seconds)
        with contextlib.suppress(Exception):
            reap_children(exclude=exclude, grace=1.0)
        with contextlib.suppress(Exception):
            sys.stderr.flush()
        os._exit(code)

    threading.Thread(target=cut, name="capo-exit-watchdog", daemon=True).start()


def _descendants() -> list[int]:
    """Pids of this process's children, grandchildren, ..."""
    try:
        return [p.pid for p in psutil.Process().children(recursive=True)]
    except psutil.Error:
        return []


def _running(proc: psutil.Process) -> bool:
    """``proc`` still runs (a zombie counts as gone)."""
    try:
        return proc.is_running() and proc.status() != psutil.STATUS_ZOMBIE
    except psutil.Error:
        return False


def _resource_tracker_pid() -> int | None:
    tracker = sys.modules.get("multiprocessing.resource_tracker")
    return getattr(getattr(tracker, "_resource_tracker", None), "_pid", None)


def _free_bytes(path: str | Path) -> int | None:
    """Free bytes on the disk holding ``path`` (its nearest existing parent)."""
    here = Path(path).absolute()
    for folder in (here, *here.parents):
        if folder.exists():
            with contextlib.suppress(OSError):
                return shutil.disk_usage(folder).free
            return None
    return None


def _option(argv: Sequence[str], name: str) -> str | None:
    """The value of ``--name VALUE`` or ``--name=VALUE`` in ``argv`` (the last one given)."""
    value = None
    for i, arg in enumerate(argv):
        if arg == name and i + 1 < len(argv):
            value = argv[i + 1]
        elif arg.startswith(name + "="):
            value = arg.split("=", 1)[1]
    return value


def _outputs(argv: Sequence[str]) -> str | None:
    """A stage's output folder or file from its command line (--out, --out-json, ...)."""
    for name in ("--out", "--out-json", "--out-md", "--figures"):
        value = _option(argv, name)
        if value:
            return value
    return None


def quiet_loggers() -> None:
    """QUIET_LOGGERS at WARNING, unless the root logger is at DEBUG; again after an import
    that sets its own levels (distributed)."""
    if logging.getLogger().getEffectiveLevel() > logging.DEBUG:
        for noisy in QUIET_LOGGERS:
            logging.getLogger(noisy).setLevel(logging.WARNING)


def tool(name: str) -> str:
    """The console script ``name`` (dvc, gto, ...) next to this interpreter, else from PATH."""
    return shutil.which(name, path=str(Path(sys.executable).parent)) or name


def tool_env(base: dict[str, str] | None = None) -> dict[str, str]:
    """``base`` (default: os.environ) with this interpreter's directory first on PATH.

    DVC runs a stage's ``cmd`` (``python -m pipelines.<stage>``) with the caller's PATH, so a
    `dvc repro` started from a Prefect worker or `capo` that was not activated would run the
    machine's own Python, which lacks torch. Subprocesses that run stages get this env.
    """
    env = dict(os.environ if base is None else base)
    env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")])
    return env


def output(args: list[str], cwd: Path | str = ".") -> str:
    """stdout of a command (git, dvc, gto); a CapoError with its message if it fails."""
    proc = subprocess.run(args, cwd=cwd, capture_output=True, text=True)
    if proc.returncode != 0:
        raise CapoError(f"`{' '.join(args)}` failed: {(proc.stderr or proc.stdout).strip()}")
    return proc.stdout
