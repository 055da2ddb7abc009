"""Load a GGUF file (llama.cpp format) as a plain, trainable float model and its tokenizer.

    model, tokenizer = load_gguf(".cache/models/smollm2/SmolLM2-135M-Instruct.Q4_1.gguf")

transformers (with the ``gguf`` package) dequantizes the file to float weights but keeps
``quantization_config`` (method GGUF) on the model, and then refuses both to train it and to
``save_pretrained`` it. The weights are plain floats, so the model is rebuilt from the same
config without ``quantization_config`` and given the loaded state dict: a normal model that
saves as safetensors and trains (LoRA or full). The tokenizer, chat template included,
comes from the same file. scripts/fetch-smollm2.sh fetches SmolLM2-135M-Instruct this way.
"""

from __future__ import annotations

import copy
import logging
from pathlib import Path
from typing import TYPE_CHECKING, Any

from capo.errors import CapoError

if TYPE_CHECKING:
    import torch

__all__ = ["is_gguf", "load_gguf"]

logger = logging.getLogger(__name__)


def is_gguf(name: str | Path) -> bool:
    """True when ``name`` names a GGUF file (by its suffix)."""
    return str(name).lower().endswith(".gguf")


def load_gguf(path: str | Path, dtype: torch.dtype | None = None) -> tuple[Any, Any]:
    """(model, tokenizer) from one GGUF file, float32 unless ``dtype``; the model carries no
    quantization config. torch and transformers load here, not when the module is imported."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    dtype = torch.float32 if dtype is None else dtype

    path = Path(path).expanduser()
    if not path.is_file():
        raise CapoError(f"{path}: no such GGUF file (scripts/fetch-smollm2.sh fetches SmolLM2)")
    folder, name = str(path.parent), path.name
    try:
        tokenizer = AutoTokenizer.from_pretrained(folder, gguf_file=name)
        loaded = AutoModelForCausalLM.from_pretrained(folder, gguf_file=name, dtype=dtype)
    except ImportError as err:  # transformers needs the `gguf` package (a capo dependency)
        raise CapoError(f"{path}: cannot read GGUF: {err}") from None
    except (OSError, ValueError, KeyError) as err:
        first = (str(err).strip().splitlines() or [repr(err)])[0]
        raise CapoError(f"{path}: cannot load GGUF: {first}") from None
    config = copy.deepcopy(loaded.config)
    if hasattr(config, "quantization_config"):
        del config.quantization_config
    config.name_or_path = str(path)
    model = AutoModelForCausalLM.from_config(config, dtype=dtype)
    model.load_state_dict(loaded.state_dict())  # strict: every weight found, none left over
    model.tie_weights()
    model.generation_config = copy.deepcopy(loaded.generation_config)
    del loaded
    n = sum(p.numel() for p in model.parameters())
    logger.info("loaded %s: %.1f M parameters (dequantized to %s)", path.name, n / 1e6, dtype)
    return model, tokenizer
