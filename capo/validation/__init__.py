"""Great Expectations gate for preference pairs: suite, quarantine, per-language gate, docs.

Usage::

    from capo.params import load_params
    from capo.validation import load_pairs, validate_pairs, write_outputs

    params = load_params("params.yaml").validate
    run = validate_pairs(load_pairs(Path("data/pairs")), params, Path("reports/data_docs"))
    write_outputs(run, Path("data/validated"), Path("reports"))
    if not run.gate.passed:
        print(run.gate.summary())
"""

from capo.validation.gate import GateReport
from capo.validation.io import load_pairs, write_outputs
from capo.validation.outcomes import ExpectationOutcome
from capo.validation.run import ValidationRun, validate_pairs
from capo.validation.suite import SUITE_NAME, build_suite

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
