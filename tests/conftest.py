"""Shared fixtures: offline environment, a tiny tokenizer and Llama built in the test."""

from __future__ import annotations

import os

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ.setdefault("DVC_NO_ANALYTICS", "1")
os.environ.setdefault("DO_NOT_TRACK", "1")
os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
os.environ.setdefault("TQDM_DISABLE", "1")

TOY_WORDS = ["red", "blue", "green", "cat", "dog", "sun", "moon", "tree", "river", "stone"]


def toy_pairs(n: int = 32) -> list[dict[str, str]]:
    """A learnable toy preference set: the chosen answer always names the prompt's word."""
    rows = []
    for i in range(n):
        word, other = TOY_WORDS[i % len(TOY_WORDS)], TOY_WORDS[(i * 3 + 1) % len(TOY_WORDS)]
        if other == word:
            other = TOY_WORDS[(i + 5) % len(TOY_WORDS)]
        rows.append(
            {"prompt": f"Say {word} {i}:", "chosen": f" {word} {word}", "rejected": f" {other} no"}
        )
    return rows


@pytest.fixture(scope="session")
def tiny_tokenizer():
    from capo.tiny import train_tokenizer

    texts = [r["prompt"] + r["chosen"] + r["rejected"] for r in toy_pairs(64)]
    return train_tokenizer(texts * 4, vocab_size=300)


@pytest.fixture
def make_tiny_model(tiny_tokenizer):
    from capo.tiny import build_tiny_llama

    def make(seed: int = 0):
        return build_tiny_llama(
            tiny_tokenizer, hidden_size=32, num_layers=2, num_heads=2, seed=seed
        )

    return make
