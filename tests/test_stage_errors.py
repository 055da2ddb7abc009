"""run_stage's one-line exits: a bad params file before the stage starts (exit 3), a full disk
(exit 1), and an unexpected error that keeps its traceback (exit 1).

Stages run as subprocesses; the full disk is a real 1 MiB tmpfs where this test may mount one
(root with CAP_SYS_ADMIN), and a real ENOSPC OSError raised by a stage's main() everywhere.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from capo.errors import EXIT_INPUT
from capo_pipelines._stage import no_space_path
from tests.conftest import GIT_ENV, ROOT, dvc_bin, git_dvc_repo

# A stage-like entry point: its main() writes ran.txt, then does what argv[1] says.
STAGE = """
import errno, sys
from pathlib import Path
from capo_pipelines._stage import run_stage

def main():
    Path("ran.txt").write_text("main ran")
    if sys.argv[1] == "enospc":
        raise OSError(errno.ENOSPC, "No space left on device", "out/model.safetensors")
    if sys.argv[1] == "bug":
        raise RuntimeError("a bug")

run_stage("probe", main, sys.argv[2:])
"""


def _env() -> dict[str, str]:
    env = {**GIT_ENV}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))
    return env


def _probe(tmp_path: Path, *argv: str) -> subprocess.CompletedProcess:
    script = tmp_path / "probe.py"
    script.write_text(STAGE)
    return subprocess.run(
        [sys.executable, str(script), *argv],
        cwd=tmp_path,
        env=_env(),
        capture_output=True,
        text=True,
        timeout=300,
    )


@pytest.mark.parametrize(
    ("params", "key"),
    [
        ({"train": {"foo_bar": 1}}, "train.foo_bar: unknown key"),
        ({"train": {"losses": "capo"}}, "train.losses: expected a list, got 'capo'"),
    ],
)
def test_a_bad_params_file_stops_the_stage_before_it_starts(tmp_path, params, key):
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(params))
    proc = _probe(tmp_path, "ok")  # params.yaml in the working directory
    assert proc.returncode == EXIT_INPUT, proc.stderr
    (line,) = proc.stderr.strip().splitlines()  # one line, no traceback
    assert line.startswith(f"probe: error: params.yaml: {key}"), line
    assert not (tmp_path / "ran.txt").exists()  # main() never ran
    (tmp_path / "params.yaml").write_text("seed: 1\n")
    (tmp_path / "other.yaml").write_text(yaml.safe_dump(params))
    proc = _probe(tmp_path, "ok", "--params", "other.yaml")  # the stage's --params
    assert proc.returncode == EXIT_INPUT and f"other.yaml: {key}" in proc.stderr, proc.stderr
    assert not (tmp_path / "ran.txt").exists()
    proc = _probe(tmp_path, "ok", "--params=params.yaml")  # a good one: main() runs
    assert proc.returncode == 0, proc.stderr
    assert (tmp_path / "ran.txt").read_text() == "main ran"


def test_a_bare_dvc_repro_is_as_strict_as_check_params(tmp_path):
    """`dvc repro` of a real stage (loss_settings) with an unknown key: the stage stops on
    one line naming the key, exit 3, and writes nothing."""
    dvc_yaml = {
        "stages": {
            "loss_settings": {
                "cmd": "python -m capo_pipelines.loss_settings --params params.yaml --out out",
                "params": ["train.losses"],
                "outs": ["out"],
            }
        }
    }
    good = yaml.safe_dump({"train": {"losses": ["capo"]}})
    repo = git_dvc_repo(
        tmp_path / "repo", {"dvc.yaml": yaml.safe_dump(dvc_yaml), "params.yaml": good}
    )
    (repo / "params.yaml").write_text(yaml.safe_dump({"train": {"losses": ["capo"], "foo_bar": 1}}))
    proc = subprocess.run(
        [dvc_bin(), "repro"], cwd=repo, env=_env(), capture_output=True, text=True, timeout=600
    )
    out = proc.stdout + proc.stderr
    assert proc.returncode != 0, out
    (line,) = [ln for ln in out.splitlines() if ln.startswith("loss_settings: error:")]
    assert line.startswith("loss_settings: error: params.yaml: train.foo_bar: unknown key"), out
    assert f"exited with {EXIT_INPUT}" in out and "Traceback" not in out
    assert not (repo / "out").exists()


def test_a_stage_help_works_with_a_bad_params_file(tmp_path):
    (tmp_path / "params.yaml").write_text("train: {foo_bar: 1}\n")
    proc = subprocess.run(
        [sys.executable, "-m", "capo_pipelines.loss_settings", "--help"],
        cwd=tmp_path,
        env=_env(),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0 and "--params" in proc.stdout, proc.stderr


def test_enospc_in_a_stage_is_one_line_naming_the_file(tmp_path):
    proc = _probe(tmp_path, "enospc")
    assert proc.returncode == 1, proc.stderr
    assert proc.stderr.strip() == (
        "probe: error: no space left on device while writing out/model.safetensors; "
        "free space and rerun"
    )


def test_any_other_error_keeps_its_traceback(tmp_path):
    proc = _probe(tmp_path, "bug")
    assert proc.returncode == 1
    assert "Traceback" in proc.stderr and "RuntimeError: a bug" in proc.stderr


@contextlib.contextmanager
def _tiny_disk(path: Path, size: str = "1m"):
    """A real tmpfs of ``size`` at ``path``, unmounted afterwards; skip where none can be
    mounted (not root, or no CAP_SYS_ADMIN)."""
    path.mkdir(parents=True, exist_ok=True)
    if os.geteuid() != 0:
        pytest.skip("mounting a small tmpfs needs root")
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(path)],
        capture_output=True,
        text=True,
    )
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {mounted.stderr.strip()}")
    try:
        yield path
    finally:
        subprocess.run(["umount", "-l", str(path)], check=False)


def test_a_real_full_disk_stops_ingest_with_one_line(tmp_path):
    params = {"ingest": {"benchmark": {"train_pairs": 400, "test_pairs": 100}}}
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(params))
    with _tiny_disk(tmp_path / "disk", "16k") as disk:
        out = disk / "pairs"
        cmd = [sys.executable, "-m", "capo_pipelines.ingest", "--params", "params.yaml"]
        proc = subprocess.run(
            [*cmd, "--out", str(out)],
            cwd=tmp_path,
            env=_env(),
            capture_output=True,
            text=True,
            timeout=600,
        )
    assert proc.returncode == 1, proc.stderr
    errors = [ln for ln in proc.stderr.splitlines() if ln.startswith("ingest: error:")]
    assert errors == [
        f"ingest: error: no space left on device while writing {out}; free space and rerun"
    ], proc.stderr
    assert "Traceback" not in proc.stderr


def test_torch_save_on_a_full_disk_reads_as_one(tmp_path):
    """torch.save's writer reports a full disk as RuntimeError("[enforce fail at
    inline_container.cc...] unexpected pos ...") from "iostream error": a full disk when
    little space is left where the stage writes, an ordinary error otherwise."""
    import torch

    with _tiny_disk(tmp_path / "disk") as disk:
        with pytest.raises(RuntimeError) as raised:
            torch.save(torch.zeros(1_000_000), disk / "model.pt")
        assert no_space_path(raised.value, disk) == str(disk)  # 1 MiB: under LOW_SPACE
        assert no_space_path(raised.value, disk, low_space=0) is None  # plenty: a bug


def test_torch_messages_and_causes_by_hand(tmp_path):
    inner = RuntimeError("basic_ios::clear: iostream error")
    try:
        try:
            raise inner
        except RuntimeError:
            raise RuntimeError(
                "[enforce fail at inline_container.cc:672] . unexpected pos"
            ) from None
    except RuntimeError as err:
        outer = err
    wrote = RuntimeError("PytorchStreamWriter failed writing file data/0: file write failed")
    for err in (outer, wrote):
        assert no_space_path(err, tmp_path, low_space=1 << 62) == str(tmp_path)
        assert no_space_path(err, tmp_path, low_space=0) is None
    chained = ValueError("saving failed")
    chained.__cause__ = OSError(28, "No space left on device", "x.bin")
    assert no_space_path(chained, tmp_path) == "x.bin"
    assert no_space_path(RuntimeError("shape mismatch"), tmp_path, low_space=1 << 62) is None
