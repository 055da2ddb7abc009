"""CPU pins (capo_pipelines.cpu_pins): a stage's bytes do not depend on the CPU's choices.

One machine stands in for two: the kernels a CPU would pick (ATEN_CPU_CAPABILITY default or
avx2, as a CPU without or with AVX2 would) and the thread count it would use
(OMP_NUM_THREADS 1 or 2) are set in the environment of stage subprocesses. With the pins
(the default) the trained weights are the same bytes under both; with CAPO_CPU_PINS=off they
differ, so the tests can fail.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from capo.errors import EXIT_INPUT, CapoError
from capo_pipelines.cpu_pins import ENV, CpuPins, is_pipeline_process, parse
from tests.test_training import stage_args, workspace, write_params  # noqa: F401 (fixture)

ROOT = Path(__file__).resolve().parents[1]
PINNED_VARS = (ENV, "ATEN_CPU_CAPABILITY", "MKL_CBWR", "ONEDNN_MAX_CPU_ISA", "OMP_NUM_THREADS")
# two machines' own choices, emulated: kernels and thread count
MACHINE_A = {"ATEN_CPU_CAPABILITY": "default", "OMP_NUM_THREADS": "1"}
MACHINE_B = {"ATEN_CPU_CAPABILITY": "avx2", "OMP_NUM_THREADS": "2"}


def env_of(machine: dict[str, str], pins: str | None = None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in PINNED_VARS}
    env.update(machine, TQDM_DISABLE="1")
    if pins is not None:
        env[ENV] = pins
    return env


def test_the_setting_parses_into_one_object_and_a_bad_one_is_one_line():
    assert parse(None) == parse("") == CpuPins(isa="avx2", threads=2)
    assert parse("off") == CpuPins(isa=None, threads=None)
    assert parse("threads=4") == CpuPins(isa=None, threads=4)
    assert parse(" isa=default , threads=1 ") == CpuPins(isa="default", threads=1)
    assert str(parse(None)) == "isa=avx2,threads=2"
    assert parse("isa=default").env()["MKL_CBWR"] == "COMPATIBLE"
    for bad in ("isa=avx512", "threads=0", "threads=two", "avx2", "isa=avx2;threads=2"):
        with pytest.raises(CapoError, match=f"^{ENV}=") as err:
            parse(bad)
        assert "\n" not in str(err.value)


def test_only_a_capo_pipelines_module_run_with_dash_m_is_pinned():
    assert is_pipeline_process(["python", "-m", "capo_pipelines.train", "--loss", "capo"])
    assert is_pipeline_process(["python", "-u", "-m", "capo_pipelines.train"])
    assert is_pipeline_process(["python", "-mcapo_pipelines.study"])
    assert is_pipeline_process(["python", "-X", "importtime", "-m", "capo_pipelines.policy"])
    assert not is_pipeline_process(["python", "-m", "pytest", "-m", "capo_pipelines.x"])
    assert not is_pipeline_process(["python", "script.py", "-m", "capo_pipelines.train"])
    assert not is_pipeline_process(["python", "-c", "import capo_pipelines"])
    assert not is_pipeline_process(["python", "-c", "-m capo_pipelines.train"])


def test_a_malformed_setting_stops_the_stage_with_one_line():
    done = subprocess.run(
        [sys.executable, "-m", "capo_pipelines.loss_settings", "--help"],
        cwd=ROOT,
        env=env_of({}, pins="threads=lots"),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == EXIT_INPUT, done.stderr
    assert done.stderr.strip().splitlines() == [
        f"loss_settings: error: {ENV}='threads=lots': 'threads=lots' is not isa=<avx2|default> "
        "or threads=<1..1024> (comma-separated), or off"
    ]


def train(root: Path, tag: str, env: dict[str, str], params: Path) -> tuple[bytes, str]:
    """The train stage in its own process: the saved weights' bytes and its log."""
    done = subprocess.run(
        [sys.executable, "-m", "capo_pipelines.train", *stage_args(root, "capo", tag, params)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return (root / tag / "model" / "model.safetensors").read_bytes(), done.stderr


@pytest.mark.slow
def test_pinned_training_gives_the_same_weights_whatever_the_cpu_picks(workspace):  # noqa: F811
    params = write_params(workspace, "params_pins.yaml", max_steps=3, logging_steps=1)
    a, log_a = train(workspace, "pins-a", env_of(MACHINE_A), params)
    b, log_b = train(workspace, "pins-b", env_of(MACHINE_B), params)
    assert a == b
    for log in (log_a, log_b):  # the stage log says what ran: the pins, not the machine's pick
        assert "(torch: AVX2 kernels, 2 threads)" in log, log[-2000:]
    # unpinned, the two machines' choices give other bytes: the pins are what makes them equal
    off_a, log_off = train(workspace, "off-a", env_of(MACHINE_A, pins="off"), params)
    off_b, _ = train(workspace, "off-b", env_of(MACHINE_B, pins="off"), params)
    assert "cpu pins: off" in log_off
    assert off_a != off_b


# A parallel reduction: torch's sum of a long tensor adds per-thread partial sums, so its
# bits depend on the thread count (a loss or metric summed over many values would too).
REDUCTION = """
import sys
from capo_pipelines import cpu_pins
cpu_pins.pin_process()  # what capo_pipelines/__init__ does in `python -m capo_pipelines.x`
import torch
x = torch.randn(1 << 22, generator=torch.Generator().manual_seed(0))
sys.stdout.write(x.sum().numpy().tobytes().hex() + " " + str(torch.get_num_threads()))
"""


def reduce_under(machine: dict[str, str], pins: str | None = None) -> tuple[str, str]:
    done = subprocess.run(
        [sys.executable, "-c", REDUCTION],
        cwd=ROOT,
        env=env_of(machine, pins),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    value, threads = done.stdout.split()
    return value, threads


@pytest.mark.skipif(
    len(os.sched_getaffinity(0)) < 2, reason="torch caps OMP_NUM_THREADS at the cores: needs 2"
)
def test_pinned_threads_give_the_same_reduction_whatever_the_core_count():
    one, two = {"OMP_NUM_THREADS": "1"}, {"OMP_NUM_THREADS": "2"}
    pinned_one, pinned_two = reduce_under(one), reduce_under(two)
    assert pinned_one[0] == pinned_two[0]
    assert pinned_one[1] == pinned_two[1] == "2"
    off_one, off_two = reduce_under(one, pins="off"), reduce_under(two, pins="off")
    assert (off_one[1], off_two[1]) == ("1", "2")
    assert off_one[0] != off_two[0]
