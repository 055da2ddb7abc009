#!/usr/bin/env bash
# Downloads the wheels that scripts/gpu_check/gpu_check.py needs on the lent GPU machine and
# that its image lacks: trl and datasets (the versions in the project's .venv) and what they
# import at module import time that the image does not hold (dill, multiprocess), plus fsspec
# pinned to a version datasets accepts (the image has an fsspec of unknown version; datasets
# wants <= 2026.9.0). All pure Python; built for CPython 3.12 on x86-64 Linux.
#
#   bash scripts/gpu_check/wheels.sh       # once, here (needs PyPI); writes scripts/gpu_check/wheels/
#
# The folder is git-ignored; the device call carries it (carry: scripts/gpu_check/wheels) and
# scripts/gpu-check.sh installs it under /tmp/capo-gpu-site there.
set -euo pipefail
cd "$(dirname "$0")/../.."
py=.venv/bin/python
[[ -n ${VIRTUAL_ENV:-} ]] && py=$VIRTUAL_ENV/bin/python
version() { $py -c "import importlib.metadata as m, sys; print(m.version(sys.argv[1]))" "$1"; }
dest=scripts/gpu_check/wheels
rm -rf "$dest"
mkdir -p "$dest"
$py -m pip download --quiet --no-deps --only-binary=:all: --python-version 3.12 \
  --implementation cp --platform manylinux2014_x86_64 --platform manylinux_2_28_x86_64 \
  -d "$dest" \
  "trl==1.16.*" "datasets==$(version datasets)" "dill==$(version dill)" \
  "multiprocess==$(version multiprocess)" "fsspec==$(version fsspec)"
ls -l "$dest"
du -cb "$dest"/*.whl | awk 'END { printf "gpu-check wheels: %.1f MiB in all\n", $1 / 1048576 }'
