"""Greedy answers of several models to the same prompts, side by side (`capo generate`).

    frame = side_by_side({"policy": "models/policy", "capo": "models/capo"},
                         pick(pd.read_parquet("data/validated/test.parquet"), per_language=2))
    print(markdown(frame))

Reward accuracy can look fine while a model has stopped answering; reading what it writes is
the check that cannot be fooled. The prompts are the first verifiable pairs of each language
(those with a gold answer), in file order, so the same command shows the same prompts for
every model and every commit.
"""

from __future__ import annotations

import argparse
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from capo.errors import CapoError

if TYPE_CHECKING:  # `capo check-params` imports this module: no pandas at start-up
    import pandas as pd

__all__ = ["add_command", "markdown", "pick", "side_by_side"]


def pick(
    pairs: pd.DataFrame, per_language: int, languages: list[str] | None = None
) -> pd.DataFrame:
    """The first ``per_language`` verifiable pairs of each language (or of ``languages``)."""
    from capo_pipelines.evaluation.evaluator import verifiable

    rows = verifiable(pairs)
    if languages:
        rows = rows[rows["language"].isin(languages)]
    return rows.groupby("language", sort=True).head(per_language).reset_index(drop=True)


def side_by_side(
    models: Mapping[str, str], rows: pd.DataFrame, max_new_tokens: int = 24
) -> pd.DataFrame:
    """language, prompt, gold and each model's greedy answer (one column per model name)."""
    from capo_pipelines.evaluation.generation import greedy_answers
    from capo_pipelines.models.chat import prompts
    from capo_pipelines.models.load import load_pretrained

    frame = rows[["language", "prompt", "gold"]].copy()
    for name, path in models.items():
        model, tok = load_pretrained(path)
        frame[name] = greedy_answers(
            model, tok, prompts(rows), max_new_tokens=max_new_tokens, desc=name
        )
    return frame


def _cell(text: Any, max_chars: int) -> str:
    value = " ".join(str(text).split()) or "(empty)"
    return value if len(value) <= max_chars else value[: max_chars - 1] + "…"


def markdown(frame: pd.DataFrame, max_chars: int = 80) -> str:
    """A GitHub Markdown table; whitespace runs become one space, long cells are cut at
    ``max_chars``."""
    from capo_pipelines.reporting.markup import markdown_table

    rows = [[_cell(v, max_chars) for v in row] for row in frame.itertuples(index=False)]
    return "\n".join(markdown_table([str(c) for c in frame.columns], rows)) + "\n"


def _generate(args: argparse.Namespace) -> int:
    import pandas as pd

    models = {}
    for spec in args.models:
        name, _, path = spec.rpartition("=")
        models[name or Path(path).name] = path
    for path in models.values():
        if not Path(path).exists():
            raise CapoError(f"{path}: no such model (a directory from `dvc repro`, or a .gguf)")
    if not Path(args.pairs).exists():
        raise CapoError(f"{args.pairs}: no such pairs file (run `dvc repro validate` first)")
    rows = pick(pd.read_parquet(args.pairs), args.per_language, args.languages)
    if rows.empty:
        raise CapoError(f"{args.pairs}: no pairs with a gold answer in {args.languages or 'any'}")
    print(markdown(side_by_side(models, rows, args.max_new_tokens)), end="")
    return 0


def add_command(sub: Any) -> None:
    """Register `capo generate` on the `capo` command's subparsers."""
    cmd = sub.add_parser(
        "generate",
        help="greedy answers of models side by side, on the test prompts",
        description="Print a Markdown table: for the first verifiable test pairs of each "
        "language, the prompt, the gold answer and each model's greedy answer. "
        "Example: capo generate policy=models/policy capo=models/capo sigmoid=models/sigmoid",
    )
    cmd.add_argument("models", nargs="+", help="NAME=PATH or PATH (a model directory or .gguf)")
    cmd.add_argument("--pairs", default="data/validated/test.parquet", help="pairs (Parquet)")
    cmd.add_argument("--per-language", type=int, default=2, help="prompts per language")
    cmd.add_argument("--languages", nargs="*", default=None, help="only these languages")
    cmd.add_argument("--max-new-tokens", type=int, default=24)
    cmd.set_defaults(func=_generate)
