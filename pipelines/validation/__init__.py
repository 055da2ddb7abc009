"""Great Expectations gate for preference pairs: suite, quarantine, per-language gate, docs.

Usage::

    from capo_pipelines.params import load_params
    from capo_pipelines.validation import load_pairs, validate_pairs, write_outputs

    params = load_params("params.yaml").validate
    run = validate_pairs(load_pairs(Path("data/pairs")), params, Path("reports/data_docs"))
    write_outputs(run, Path("data/validated"), Path("reports"))
    if not run.gate.passed:
        print(run.gate.summary())
"""

from capo_pipelines.validation.gate import GateReport
from capo_pipelines.validation.io import load_pairs, write_outputs
from capo_pipelines.validation.outcomes import ExpectationOutcome
from capo_pipelines.validation.suite import SUITE_NAME, build_suite
from capo_pipelines.validation.validator import ValidationRun, validate_pairs

__all__ = [
    "SUITE_NAME",
    "ExpectationOutcome",
    "GateReport",
    "ValidationRun",
    "build_suite",
    "load_pairs",
    "validate_pairs",
    "write_outputs",
]
