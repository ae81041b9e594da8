"""Great Expectations suites run as blocking asset checks: the audit of write-audit-publish.

Each check validates the version its asset just staged; only a pass publishes it, so nothing
downstream (in this run or any later one) reads a batch that failed. A failure names the file.
The suites run inside the DuckDB warehouse, where the staged rows are: a million projects are
checked with SQL rather than copied into pandas once per check.
"""

import warnings
from collections.abc import Callable

import dagster as dg
import pandas as pd

from tagifai_platform.audits import audit_in_place
from tagifai_platform.data import suites
from tagifai_platform.data.transform import label_holdout
from tagifai_platform.data.validation import ValidationSummary
from tagifai_platform.dataops.assets import BATCH_COLUMN
from tagifai_platform.dataops.resources import ProjectSource
from tagifai_platform.io_managers import WarehouseResource
from tagifai_platform.shared import ExpectationsValidator, batches

# Partitioned checks are a Dagster preview feature, and the one that lets a check read the batch it
# checks: the warning says nothing a user can act on.
warnings.filterwarnings("ignore", category=dg.PreviewWarning, message="Specifying a partitions_def")


def _file_rows(query: str) -> str:
    """The rows of a partitioned table as the file held them, without the batch they were stored under."""
    return f"select * exclude ({BATCH_COLUMN}) from ({query})"


def _as_arrived(
    validator: ExpectationsValidator, warehouse: WarehouseResource, suite, partitioned: bool = True
) -> Callable[[str], ValidationSummary]:
    """Validation of a projects file as it arrived, its parsed creation times beside the text."""
    return lambda query: validator.validate_in(
        warehouse.warehouse,
        suites.projects_for_validation(_file_rows(query) if partitioned else query),
        suite,
    )


@dg.asset_check(asset="raw_projects", blocking=True, partitions_def=batches)
def raw_projects_suite(
    context: dg.AssetCheckExecutionContext,
    warehouse: WarehouseResource,
    validator: ExpectationsValidator,
    source: ProjectSource,
) -> dg.AssetCheckResult:
    """Columns in order, one plain integer id each, ISO 8601 times not in the future, no blank text."""
    return audit_in_place(
        context,
        warehouse.warehouse,
        "raw_projects",
        _as_arrived(validator, warehouse, suites.raw_projects_suite()),
        where=source.describe_location(context.partition_key, "projects"),
    )


@dg.asset_check(asset="raw_tags", blocking=True, partitions_def=batches)
def raw_tags_suite(
    context: dg.AssetCheckExecutionContext,
    warehouse: WarehouseResource,
    validator: ExpectationsValidator,
    source: ProjectSource,
) -> dg.AssetCheckResult:
    """Known tags only, one per project, and only for projects of the same batch, spelled the same."""
    projects = warehouse.warehouse.staged_query("raw_projects", context.partition_key).query
    return audit_in_place(
        context,
        warehouse.warehouse,
        "raw_tags",
        lambda raw: validator.validate_in(
            warehouse.warehouse,
            suites.tags_for_validation(_file_rows(raw), projects),
            suites.raw_tags_suite(),
        ),
        where=source.describe_location(context.partition_key, "tags"),
    )


@dg.asset_check(
    asset="labeled_projects",
    blocking=True,
    partitions_def=batches,
    additional_ins={"holdout_projects": dg.AssetIn("holdout_projects")},
)
def labeled_projects_suite(
    context: dg.AssetCheckExecutionContext,
    holdout_projects: pd.DataFrame,
    warehouse: WarehouseResource,
    validator: ExpectationsValidator,
) -> dg.AssetCheckResult:
    """The training data: model classes only, unique ids and texts, no holdout project (by id or text)."""
    suite = suites.labeled_projects_suite(label_holdout(holdout_projects))
    return audit_in_place(
        context,
        warehouse.warehouse,
        "labeled_projects",
        lambda labeled: validator.validate_in(warehouse.warehouse, _file_rows(labeled), suite),
        where=f"labeled_projects [{context.partition_key}]",
    )


@dg.asset_check(asset="holdout_projects", blocking=True)
def holdout_projects_suite(
    context: dg.AssetCheckExecutionContext,
    warehouse: WarehouseResource,
    validator: ExpectationsValidator,
    source: ProjectSource,
) -> dg.AssetCheckResult:
    """The frozen evaluation set must be as clean as the training data, with tags among the classes."""
    return audit_in_place(
        context,
        warehouse.warehouse,
        "holdout_projects",
        _as_arrived(validator, warehouse, suites.holdout_projects_suite(), partitioned=False),
        where=source.holdout_location(),
    )
