"""`capo train`: train CAPO outside the pipeline, the way `trl dpo` trains DPO.

    capo train --model_name_or_path Qwen/Qwen2-0.5B-Instruct \\
        --dataset_name trl-lib/ultrafeedback_binarized --output_dir Qwen2-0.5B-CAPO \\
        --gamma 1 --direction up --kappa 0.5 --use_peft --lora_r 16
    capo train --config recipe.yaml              # TRL's YAML recipes; flags override them
    python -m capo.train_command --help                  # the same, without the `capo` command

TRL's own parser (TrlParser) over three argument groups: TRL's ScriptArguments (the dataset),
CAPOConfig (DPOConfig's training arguments plus CAPO's settings, capo/config.py) and TRL's
ModelConfig (the model, dtype and LoRA through ``--use_peft``). ``--dataset_name`` is a Hub id,
a local folder or a file (.jsonl/.json, .csv, .parquet); rows are preference pairs in TRL's
format (prompt, chosen, rejected), with optional score_chosen/score_rejected and
translation_confidence columns for CAPO's data confidence. ``--push_to_hub`` uploads the
trained model with the model card TRL writes (it names CAPO and cites arXiv:2511.07691).

Only the core is needed (`pip install capo`): no DVC, Prefect or workflow code.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from capo.errors import EXIT_USAGE

__all__ = ["load_pairs", "main", "make_parser", "register"]

_FILE_BUILDERS = {".jsonl": "json", ".json": "json", ".csv": "csv", ".parquet": "parquet"}


def load_pairs(name: str, config: str | None = None, streaming: bool = False) -> Any:
    """A DatasetDict (or IterableDatasetDict) from a Hub id, a local folder or a file.

    A single file becomes the "train" split."""
    from datasets import load_dataset

    path = Path(name).expanduser()
    if path.is_file():
        builder = _FILE_BUILDERS.get(path.suffix.lower())
        if builder is None:
            known = ", ".join(sorted(_FILE_BUILDERS))
            raise SystemExit(f"capo train: error: {path}: unknown file type (known: {known})")
        return load_dataset(builder, data_files={"train": str(path)}, streaming=streaming)
    if path.is_dir():
        return load_dataset(str(path), name=config, streaming=streaming)
    return load_dataset(name, name=config, streaming=streaming)


def make_parser(prog: str = "capo train") -> Any:
    from trl import ModelConfig, ScriptArguments, TrlParser

    from capo.config import CAPOConfig

    return TrlParser((ScriptArguments, CAPOConfig, ModelConfig), prog=prog)


def train(script_args: Any, training_args: Any, model_args: Any) -> Any:
    """Train and save (and push, with --push_to_hub); returns the trainer."""
    from trl import get_peft_config, get_quantization_config

    from capo.trainer import CAPOTrainer

    model_init_kwargs = {
        "revision": model_args.model_revision,
        "trust_remote_code": training_args.trust_remote_code,
        "attn_implementation": model_args.attn_implementation,
        "dtype": model_args.dtype,
    }
    training_args.model_init_kwargs = model_init_kwargs | (training_args.model_init_kwargs or {})
    dataset = load_pairs(
        script_args.dataset_name, script_args.dataset_config, script_args.dataset_streaming
    )
    if script_args.dataset_train_split not in dataset:
        raise SystemExit(
            f"capo train: error: {script_args.dataset_name}: no split "
            f"{script_args.dataset_train_split!r} (has: {', '.join(dataset)})"
        )
    evaluate = training_args.eval_strategy != "no" and script_args.dataset_test_split in dataset
    trainer = CAPOTrainer(
        model=model_args.model_name_or_path,
        args=training_args,
        train_dataset=dataset[script_args.dataset_train_split],
        eval_dataset=dataset[script_args.dataset_test_split] if evaluate else None,
        quantization_config=get_quantization_config(model_args),
        peft_config=get_peft_config(model_args),
    )
    trainer.train(resume_from_checkpoint=training_args.resume_from_checkpoint)
    trainer.save_model(training_args.output_dir)
    # TRL writes its card at checkpoints and on push; the saved model gets one too (CAPO, cited)
    hub_dataset = None if Path(script_args.dataset_name).exists() else script_args.dataset_name
    trainer.create_model_card(dataset_name=hub_dataset)
    print(f"capo train: model saved to {training_args.output_dir}")
    if training_args.push_to_hub:
        trainer.push_to_hub(dataset_name=script_args.dataset_name)
        print(f"capo train: pushed to https://huggingface.co/{trainer.hub_model_id}")
    return trainer


def main(argv: list[str] | None = None) -> int:
    parser = make_parser()
    args = sys.argv[1:] if argv is None else argv
    if not args:
        parser.print_help()
        return EXIT_USAGE
    script_args, training_args, model_args = parser.parse_args_and_config(args)
    if not script_args.dataset_name:
        parser.error("--dataset_name is required (a Hub id, a local folder or a file)")
    if not model_args.model_name_or_path:
        parser.error("--model_name_or_path is required (a Hub id or a local folder)")
    train(script_args, training_args, model_args)
    return 0


def register(subparsers: Any) -> None:
    """train CAPO on a preference dataset, as `trl dpo` does

    `capo train`, a core subcommand: its arguments are TRL's, parsed by TrlParser (the first
    docstring line is what the lazy `capo --help` shows)."""
    cmd = subparsers.add_parser(
        "train",
        help="train CAPO on a preference dataset, as `trl dpo` does",
        add_help=False,
        prefix_chars="\0",  # every argument goes to TrlParser untouched (see main)
    )
    cmd.add_argument("rest", nargs="*")
    cmd.set_defaults(func=lambda ns: main(ns.rest))


if __name__ == "__main__":
    sys.exit(main())
