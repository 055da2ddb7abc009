"""capo.study: the label-noise study (every loss x noise level x seed) and its statistics.

from capo.study import run_study, summarize_study, study_markdown, study_figure
"""

from capo.study.report import study_figure, study_markdown, summarize_study
from capo.study.run import run_study
from capo.study.stats import Estimate, mean_ci, paired_ci

__all__ = [
    "Estimate",
    "mean_ci",
    "paired_ci",
    "run_study",
    "study_figure",
    "study_markdown",
    "summarize_study",
]
