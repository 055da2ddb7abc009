"""The torch device a params.yaml `device:` setting names: auto, cpu, cuda or cuda:N."""

from __future__ import annotations

__all__ = ["resolve_device"]


def resolve_device(setting: str) -> str:
    """``setting`` itself, except "auto": cuda when torch sees a GPU, else cpu."""
    if setting != "auto":
        return setting
    import torch  # here, so a stage that never asks does not load torch

    return "cuda" if torch.cuda.is_available() else "cpu"
