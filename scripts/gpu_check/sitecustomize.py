"""Per-stage GPU probe for scripts/gpu-check.sh, loaded by every Python the check starts.

Active only when CAPO_GPU_REPORT names a file and the process is a pipeline stage
(`python -m pipelines.<stage>`): it counts the forward calls of every Hugging Face model
(top-level PreTrainedModel) by the device of the model's weights and of its input batch, and
at exit appends one JSON line: stage, wall seconds, peak GPU memory (torch's allocator),
those counts, and how many decoder-layer calls ran under CUDA autocast (and its dtype).
No effect on any other process (DVC itself, pip, ...).
"""

from __future__ import annotations

import atexit
import json
import os
import sys
import time
from collections import Counter


def _stage() -> str | None:
    argv = list(getattr(sys, "orig_argv", []))
    if "-m" not in argv or argv.index("-m") + 1 >= len(argv):
        return None
    module = argv[argv.index("-m") + 1]
    if not module.startswith("pipelines."):
        return None
    name = module.split(".", 1)[1]
    if "--loss" in argv and argv.index("--loss") + 1 < len(argv):
        name += "@" + argv[argv.index("--loss") + 1]
    return name


def _install(report: str, stage: str) -> None:
    import torch
    from torch.nn.modules.module import register_module_forward_pre_hook
    from transformers import PreTrainedModel

    start = time.perf_counter()
    calls: Counter[str] = Counter()

    def first_tensor(args: tuple, kwargs: dict) -> torch.Tensor | None:
        for value in (*args, *kwargs.values()):
            if isinstance(value, torch.Tensor):
                return value
        return None

    def hook(module, args, kwargs=None):
        if isinstance(module, PreTrainedModel):
            weight = next(module.parameters(), None)
            batch = first_tensor(args, kwargs or {})
            where = weight.device.type if weight is not None else "none"
            calls[f"model:{where}"] += 1
            calls[f"batch:{batch.device.type if batch is not None else 'none'}"] += 1
        if type(module).__name__.endswith("DecoderLayer") and torch.is_autocast_enabled("cuda"):
            calls[f"autocast:{torch.get_autocast_dtype('cuda')}"] += 1  # inside mixed precision
        return None

    register_module_forward_pre_hook(hook, with_kwargs=True)

    def done() -> None:
        peak = torch.cuda.max_memory_allocated() if torch.cuda.is_initialized() else 0
        record = {
            "stage": stage,
            "seconds": round(time.perf_counter() - start, 1),
            "peak_gpu_mib": round(peak / 2**20, 1),
            "calls": dict(sorted(calls.items())),
        }
        with open(report, "a", encoding="utf-8") as fh:
            fh.write(json.dumps(record) + "\n")

    atexit.register(done)


_report, _name = os.environ.get("CAPO_GPU_REPORT"), _stage()
if _report and _name:
    _install(_report, _name)
