"""Train/test assignment by a stable hash of the prompt, so a pair never changes split."""

from __future__ import annotations

import hashlib

__all__ = ["split_of"]


def split_of(language: str, prompt: str, test_fraction: float) -> str:
    """Return "test" for a fixed ``test_fraction`` of (language, prompt) keys, else "train".

    The decision depends on nothing but the key, so adding data never moves a pair, and
    all pairs that share a prompt land in the same split (no prompt leaks into test).
    """
    digest = hashlib.sha1(f"split\0{language}\0{prompt}".encode()).digest()
    return "test" if int.from_bytes(digest[:8], "big") / 2**64 < test_fraction else "train"
