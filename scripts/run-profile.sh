#!/usr/bin/env bash
# Run the pipeline as a DVC experiment with a params profile (profiles/*.yaml: one `-S`
# override per key, dotted path: value). Further arguments go to `dvc exp run` as they are.
#
#   bash scripts/run-profile.sh profiles/smollm2.yaml
#   bash scripts/run-profile.sh profiles/smollm2.yaml --name smollm2 -S train.max_steps=4
#
# Like `dvc exp run -S`, it writes the overrides into params.yaml and runs in this
# workspace; `dvc exp show` lists the experiment, `git checkout params.yaml` undoes the edit.
set -euo pipefail
cd "$(dirname "$0")/.."
profile=${1:?usage: scripts/run-profile.sh PROFILE.yaml [dvc exp run arguments]}
shift
bin=$PWD/.venv/bin
[[ -n ${VIRTUAL_ENV:-} ]] && bin=$VIRTUAL_ENV/bin
export PATH="$bin:$PATH"  # DVC runs each stage's `python -m capo_pipelines.<stage>` from PATH
export DVC_NO_ANALYTICS=1 DO_NOT_TRACK=1 HF_HUB_DISABLE_TELEMETRY=1
mapfile -t sets < <(python - "$profile" <<'PY'
import json, sys
import yaml
with open(sys.argv[1], encoding="utf-8") as fh:
    profile = yaml.safe_load(fh) or {}
for key, value in profile.items():
    text = value if isinstance(value, str) else json.dumps(value).replace(" ", "")
    print("-S")
    print(f"{key}={text}")
PY
)
capo check-params params.yaml >/dev/null  # a bad params.yaml: one clear line first
exec dvc exp run "${sets[@]}" "$@"
