"""Load a causal LM and its tokenizer: a hub id, a local safetensors folder or a GGUF file.

    model, tokenizer = load_pretrained("HuggingFaceTB/SmolLM2-135M-Instruct")

Every loaded tokenizer has a pad token, an EOS token and a chat template (capo's, from
pipelines/models/tiny.py, where it has none), and no load-time flags, so what is saved from it does
not depend on how it was loaded (HF_HUB_OFFLINE).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from transformers import AutoModelForCausalLM, AutoTokenizer, PreTrainedModel

from capo.errors import CapoError
from capo_pipelines.models.gguf import is_gguf, load_gguf
from capo_pipelines.models.reproducible import forget_load_flags
from capo_pipelines.models.tiny import CHAT_TEMPLATE

__all__ = ["load_pretrained"]


def _looks_local(name: str) -> bool:
    return name.startswith((".", "/", "~")) or Path(name).exists() or name.count("/") > 1


def load_pretrained(name: str, trust_remote_code: bool = False) -> tuple[PreTrainedModel, Any]:
    """Load a causal LM and its tokenizer: hub id or local directory (safetensors weights
    only), or a local GGUF file (dequantized to a plain float model, pipelines/models/gguf.py)."""
    if is_gguf(name):
        model, tokenizer = load_gguf(name)
    else:
        model, tokenizer = _load_hf(name, trust_remote_code)
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    if tokenizer.eos_token is None:
        raise CapoError(f"tokenizer of {name!r} has no EOS token")
    if not getattr(tokenizer, "chat_template", None):
        tokenizer.chat_template = CHAT_TEMPLATE
    return model, forget_load_flags(tokenizer)  # its saves must not depend on HF_HUB_OFFLINE


def _load_hf(name: str, trust_remote_code: bool) -> tuple[PreTrainedModel, Any]:
    if _looks_local(name):
        path = Path(name).expanduser()
        if not path.is_dir():
            raise CapoError(f"no such model directory: {path}")
        if not any(path.glob("*.safetensors")):
            raise CapoError(f"{path}: no *.safetensors weights (other formats are not loaded)")
        name = str(path)
    kwargs = {"trust_remote_code": trust_remote_code}
    try:
        tokenizer = AutoTokenizer.from_pretrained(name, **kwargs)
        model = AutoModelForCausalLM.from_pretrained(name, use_safetensors=True, **kwargs)
    except (OSError, ValueError) as err:
        raise CapoError(f"cannot load model {name!r} (safetensors only): {err}") from err
    return model, tokenizer
