"""Great Expectations suites run as blocking asset checks: the audit of write-audit-publish.

Each check validates the version its asset just staged; only a pass publishes it, so nothing
downstream (in this run or any later one) reads a batch that failed. A failure names the file.
"""

import warnings
from collections.abc import Callable

import dagster as dg
import pandas as pd

from tagifai_platform.audits import audit
from tagifai_platform.data import suites
from tagifai_platform.data.transform import label_holdout
from tagifai_platform.data.validation import ValidationSummary
from tagifai_platform.dataops.assets import without_batch
from tagifai_platform.dataops.resources import ExpectationsValidator, ProjectSource
from tagifai_platform.io_managers import WarehouseResource
from tagifai_platform.shared import batches

# Partitioned checks are a Dagster preview feature, and the one that lets a check read the batch it
# checks: the warning says nothing a user can act on.
warnings.filterwarnings("ignore", category=dg.PreviewWarning, message="Specifying a partitions_def")


def _as_arrived(validator: ExpectationsValidator, suite) -> Callable[[pd.DataFrame], ValidationSummary]:
    """Validation of a projects file as it arrived, its parsed creation times beside the text."""
    return lambda frame: validator.validate(suites.projects_for_validation(without_batch(frame)), suite)


@dg.asset_check(asset="raw_projects", blocking=True, partitions_def=batches)
def raw_projects_suite(
    context: dg.AssetCheckExecutionContext,
    warehouse: WarehouseResource,
    validator: ExpectationsValidator,
    source: ProjectSource,
) -> dg.AssetCheckResult:
    """Columns in order, one plain integer id each, ISO 8601 times not in the future, no blank text."""
    return audit(
        context,
        warehouse.warehouse,
        "raw_projects",
        _as_arrived(validator, suites.raw_projects_suite()),
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
    projects = warehouse.warehouse.staged("raw_projects", context.partition_key).frame
    suite = suites.raw_tags_suite(projects["id"].dropna())
    return audit(
        context,
        warehouse.warehouse,
        "raw_tags",
        lambda raw: validator.validate(without_batch(raw), suite),
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
    return audit(
        context,
        warehouse.warehouse,
        "labeled_projects",
        lambda labeled: validator.validate(without_batch(labeled), suite),
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
    return audit(
        context,
        warehouse.warehouse,
        "holdout_projects",
        _as_arrived(validator, suites.holdout_projects_suite()),
        where=source.holdout_location(),
    )
