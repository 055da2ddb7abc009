#!/usr/bin/env bash
# Install capo and everything it needs into ./.venv (or the active virtualenv/conda env).
# torch: an already-installed torch is kept (GPU users keep their CUDA build); otherwise
# torch==2.13.0 is installed first, which pip takes from a local CPU wheel where one lies
# in its find-links, so the default install never pulls a multi-GB CUDA build by accident.
set -euo pipefail
cd "$(dirname "$0")/.."
if [[ -n "${VIRTUAL_ENV:-}${CONDA_PREFIX:-}" ]]; then
  py=python
else
  [[ -x .venv/bin/python ]] || python3 -m venv .venv
  py=.venv/bin/python
fi
stamp=.venv/.capo-installed
want=$(cat pyproject.toml pipelines/pyproject.toml scripts/setup.sh | sha256sum | cut -c1-16)
if [[ -f $stamp && $(cat "$stamp") == "$want" ]] && $py -c "import capo, capo_pipelines" 2>/dev/null; then
  exit 0
fi
export PIP_DISABLE_PIP_VERSION_CHECK=1
if ! $py -c "import torch" 2>/dev/null; then
  echo "setup: installing torch==2.13.0" >&2
  $py -m pip install -q "torch==${CAPO_TORCH_VERSION:-2.13.0}"
fi
echo "setup: installing capo (the core) and capo-pipelines[dev] (the workflow)" >&2
$py -m pip install -q -e . -e "./pipelines[dev]"
mkdir -p .venv && echo "$want" > "$stamp"
