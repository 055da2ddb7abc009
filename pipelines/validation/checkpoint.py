"""Run a suite over a pandas DataFrame through a GX checkpoint in an ephemeral context.

Why ephemeral: the suite is built from params.yaml on every run, so nothing in a
persisted gx/ project would be a source of truth, and a file context accumulates old
validation results that then reappear in Data Docs. Here the context lives for one run,
and its only lasting outputs are the Data Docs site and the stage's own files, all
declared as DVC outputs.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import great_expectations as gx
from great_expectations.checkpoint import UpdateDataDocsAction
from great_expectations.core import ExpectationSuiteValidationResult
from great_expectations.data_context.types.base import (
    DataContextConfig,
    InMemoryStoreBackendDefaults,
    ProgressBarsConfig,
)

import capo_pipelines.validation.expectations  # noqa: F401  (registers the custom expectations)
from capo_pipelines.validation.docs import SITE_NAME, site_config
from capo_pipelines.validation.stable_docs import RUN_ID

__all__ = ["RESULT_FORMAT", "run_checkpoint"]

# COMPLETE gives every failing row's index (for quarantine); no pandas query strings.
RESULT_FORMAT: dict[str, Any] = {
    "result_format": "COMPLETE",
    "partial_unexpected_count": 20,
    "return_unexpected_index_query": False,
}


def _context(docs_dir: Path | None) -> Any:
    config = DataContextConfig(
        store_backend_defaults=InMemoryStoreBackendDefaults(init_temp_docs_sites=False),
        analytics_enabled=False,
        progress_bars=ProgressBarsConfig(globally=False),
        data_docs_sites={SITE_NAME: site_config(docs_dir)} if docs_dir else {},
    )
    return gx.get_context(mode="ephemeral", project_config=config)


def run_checkpoint(
    df: Any, suite: gx.ExpectationSuite, docs_dir: Path | None = None
) -> ExpectationSuiteValidationResult:
    """Validate ``df`` against ``suite``; with ``docs_dir``, also build Data Docs there."""
    context = _context(docs_dir)
    batch = (
        context.data_sources.add_pandas("pairs")
        .add_dataframe_asset("pairs")
        .add_batch_definition_whole_dataframe("all_pairs")
    )
    suite = context.suites.add(suite)
    definition = context.validation_definitions.add(
        gx.ValidationDefinition(name="validate_pairs", data=batch, suite=suite)
    )
    actions = [UpdateDataDocsAction(name="update_data_docs", site_names=[SITE_NAME])]
    checkpoint = context.checkpoints.add(
        gx.Checkpoint(
            name="validate",
            validation_definitions=[definition],
            actions=actions if docs_dir else [],
            result_format=RESULT_FORMAT,
        )
    )
    result = checkpoint.run(batch_parameters={"dataframe": df}, run_id=RUN_ID)
    return next(iter(result.run_results.values()))
