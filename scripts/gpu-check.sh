#!/usr/bin/env bash
# The GPU check: scripts/gpu_check/gpu_check.py (CAPO vs DPO step time, peak GPU memory and a
# small noise study on a SmolLM2-135M-sized Llama with random weights; --help lists flags).
# Runs on the lent GPU machine, whose python3 has torch and transformers but no trl or
# datasets: those travel as wheels (bash scripts/gpu_check/wheels.sh, here, once; then carry
# scripts/gpu_check/wheels) and are installed under /tmp/capo-gpu-site when trl is not
# importable, never into the system Python. Here, with the project's .venv, trl is there.
#
#   bash scripts/gpu-check.sh                    # on the GPU machine: JSON to $OUT/gpu_check.json
#   bash scripts/gpu-check.sh --tiny --out x.json   # a CPU smoke run
set -euo pipefail
cd "$(dirname "$0")/.."
if [[ -n ${PYTHON:-} ]]; then py=$PYTHON
elif [[ -n ${VIRTUAL_ENV:-} ]]; then py=$VIRTUAL_ENV/bin/python
elif [[ -x .venv/bin/python ]]; then py=.venv/bin/python
else py=python3
fi
site=/tmp/capo-gpu-site
if ! $py -c "import trl, datasets" 2>/dev/null; then
  wheels=(scripts/gpu_check/wheels/*.whl)
  if [[ ! -e ${wheels[0]} ]]; then
    echo "gpu-check: trl is not importable and scripts/gpu_check/wheels/ is empty:" \
      "run scripts/gpu_check/wheels.sh and carry scripts/gpu_check/wheels" >&2
    exit 2
  fi
  $py -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
    --target "$site" "${wheels[@]}"
  export PYTHONPATH=$site${PYTHONPATH:+:$PYTHONPATH}
fi
export PYTHONPATH=$PWD${PYTHONPATH:+:$PYTHONPATH}
export PYTHONUNBUFFERED=1
exec $py scripts/gpu_check/gpu_check.py "$@"
