"""The label-noise study (every loss x noise level x seed) and its statistics.

from capo_pipelines.noise_study import run_study, summarize_study, study_markdown, study_figure
"""

from capo_pipelines.noise_study.stats import Estimate, mean_ci, paired_ci
from capo_pipelines.noise_study.trials import run_study
from capo_pipelines.noise_study.writeup import study_figure, study_markdown, summarize_study

__all__ = [
    "Estimate",
    "mean_ci",
    "paired_ci",
    "run_study",
    "study_figure",
    "study_markdown",
    "summarize_study",
]
