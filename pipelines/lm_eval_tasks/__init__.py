"""capo's lm-evaluation-harness task: greedy answers to the benchmark's test questions.

    lm_eval --include_path \
        "$(python -c 'import capo_pipelines.lm_eval_tasks as t; print(t.TASK_DIR)')" \
        --tasks capo_benchmark --model hf --model_args pretrained=MODEL \
        --metadata '{"data_dir": "DIR"}'

DIR is a folder written by `capo benchmark export DIR` (or set CAPO_BENCHMARK_DIR instead of
--metadata). The group ``capo_benchmark`` has one task per language, ``capo_benchmark_<lang>``,
each scoring ``generation_accuracy`` with capo's own matcher (utils.py); the group's score is
the mean over all questions. lm-eval is optional:
``pip install -e "./pipelines[lm-eval]"`` in the repository.
"""

from pathlib import Path

__all__ = ["GROUP", "LANGUAGES", "TASK_DIR"]

TASK_DIR = Path(__file__).resolve().parent
GROUP = "capo_benchmark"
LANGUAGES = ("en", "de", "es", "fr", "ru", "hi", "ar", "zh", "ja")
