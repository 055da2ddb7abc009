#!/usr/bin/env bash
# The GPU path: the real-model profile (profiles/smollm2.yaml: SmolLM2-135M-Instruct, LoRA) on
# a CUDA device with bf16 training and `device: auto` everywhere, as one DVC experiment. Prints
# per stage: wall time, peak GPU memory (torch's allocator) and where the model forward passes
# ran (weights and batches); fails when a stage that runs a model ran one on the CPU.
#
#   bash scripts/gpu-check.sh            # in a git checkout of capo, after `make setup`
#
# Each stage's process is probed by scripts/gpu_check/sitecustomize.py (CAPO_GPU_REPORT).
set -euo pipefail
cd "$(dirname "$0")/.."
py=.venv/bin/python
[[ -n ${VIRTUAL_ENV:-} ]] && py=$VIRTUAL_ENV/bin/python
if ! $py -c "import torch, sys; sys.exit(0 if torch.cuda.is_available() else 1)"; then
  echo "gpu-check: no CUDA device visible to torch ($($py -c 'import torch; print(torch.__version__)'))" >&2
  exit 2
fi
$py -c "import torch; p = torch.cuda.get_device_properties(0); print(f'gpu-check: {p.name}, {p.total_memory / 2**30:.0f} GiB, torch {torch.__version__}, bf16 {torch.cuda.is_bf16_supported()}')"
bash scripts/fetch-smollm2.sh >/dev/null
report=$(mktemp "${TMPDIR:-/tmp}/capo-gpu-check.XXXXXX.jsonl")
export CAPO_GPU_REPORT=$report
export PYTHONPATH="$PWD/scripts/gpu_check${PYTHONPATH:+:$PYTHONPATH}"
start=$(date +%s)
bash scripts/run-profile.sh profiles/smollm2.yaml --force \
  -S train.bf16=true -S reference.device=auto -S evaluate.device=auto \
  -S ingest.translation.device=auto
echo "gpu-check: whole pipeline $(( $(date +%s) - start )) s"
$py - "$report" <<'PY'
import json, sys
rows = [json.loads(line) for line in open(sys.argv[1], encoding="utf-8")]
print(f"{'stage':<18} {'seconds':>8} {'peak GPU MiB':>13}  forward calls")
bad = []
for r in rows:
    calls = r["calls"]
    print(f"{r['stage']:<18} {r['seconds']:>8} {r['peak_gpu_mib']:>13}  {calls or '-'}")
    if calls.get("model:cpu") or calls.get("batch:cpu"):
        bad.append(r["stage"])
    if r["stage"] in ("reference", "evaluate@capo", "train@capo") and not calls.get("model:cuda"):
        bad.append(r["stage"])
train = [r for r in rows if r["stage"].startswith("train@")]
if not any(k.startswith("autocast:torch.bfloat16") for r in train for k in r["calls"]):
    bad.append("train (no bf16 autocast seen)")
if bad:
    sys.exit(f"gpu-check: FAILED: model or batch on the CPU, or no bf16, in {sorted(set(bad))}")
print("gpu-check: every model forward ran on CUDA with CUDA batches; training under bf16 autocast")
PY
