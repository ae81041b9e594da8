"""The audit step of write-audit-publish, shared by every domain's blocking checks.

A blocking check reads the version its asset just staged in the warehouse (not the published one
that downstream steps read), validates it and records the verdict: a pass publishes that version,
a failure leaves the last good one published and says why, in the UI and in the warehouse.
"""

from __future__ import annotations

from collections.abc import Callable

import dagster as dg
import pandas as pd

from tagifai_platform.data.validation import ValidationSummary
from tagifai_platform.warehouse import UNPARTITIONED, Staged, StagedQuery, Warehouse


def check_metadata(summary: ValidationSummary) -> dict:
    """What a failed suite shows in the UI: each failed expectation, its row count and a sample."""
    rows = [
        {
            "expectation": failure.expectation,
            "target": failure.target,
            "unexpected rows": "" if failure.unexpected_count is None else failure.unexpected_count,
            "sample": failure.error or ", ".join(map(str, failure.sample)),
        }
        for failure in summary.failures
    ]
    metadata = {"rows": summary.rows, "expectations": summary.evaluated, "failed": len(summary.failures)}
    if rows:
        metadata["failures"] = dg.MetadataValue.md(pd.DataFrame(rows).to_markdown(index=False))
    return metadata


def _partition(context: dg.AssetCheckExecutionContext) -> str:
    (spec,) = context.check_specs
    partitioned = spec.partitions_def is not None and context.has_partition_key
    return context.partition_key if partitioned else UNPARTITIONED


def _verdict(
    context: dg.AssetCheckExecutionContext,
    warehouse: Warehouse,
    staged: Staged | StagedQuery,
    summary: ValidationSummary,
    where: str,
) -> dg.AssetCheckResult:
    """Record the verdict on ``staged`` (a pass publishes it) and report it to Dagster."""
    (spec,) = context.check_specs
    description = f"{where}: {summary.describe()}"
    warehouse.audit(staged, checked_by=spec.name, passed=summary.success, description=description)
    return dg.AssetCheckResult(
        passed=summary.success,
        description=description,
        metadata={
            **check_metadata(summary),
            "version": staged.version,
            "published": summary.success,
            "source": where,
        },
    )


def audit(
    context: dg.AssetCheckExecutionContext,
    warehouse: Warehouse,
    asset: str,
    validate: Callable[[pd.DataFrame], ValidationSummary],
    where: str,
) -> dg.AssetCheckResult:
    """Validate the staged version of ``asset`` (this check's partition) and publish it if it passes.

    ``where`` names what the data came from (a file, a step), so that a failure says where to look.
    """
    staged = warehouse.staged(asset, _partition(context))
    return _verdict(context, warehouse, staged, validate(staged.frame), where)


def audit_in_place(
    context: dg.AssetCheckExecutionContext,
    warehouse: Warehouse,
    asset: str,
    validate: Callable[[str], ValidationSummary],
    where: str,
) -> dg.AssetCheckResult:
    """:func:`audit`, with ``validate`` given the staged version as a query on the warehouse: the
    rows stay in DuckDB, for tables too large to load into pandas for every check."""
    staged = warehouse.staged_query(asset, _partition(context))
    return _verdict(context, warehouse, staged, validate(staged.query), where)
