"""Great Expectations suites run as blocking asset checks: a failure stops everything downstream."""

import warnings

import dagster as dg
import pandas as pd

from tagifai_platform.data import suites
from tagifai_platform.dataops.assets import without_batch
from tagifai_platform.dataops.metadata import check_metadata
from tagifai_platform.dataops.partitions import batches
from tagifai_platform.dataops.resources import ExpectationsValidator

# Partitioned checks are a Dagster preview feature, and the one that lets a check read the batch it
# checks: the warning says nothing a user can act on.
warnings.filterwarnings("ignore", category=dg.PreviewWarning, message="Specifying a partitions_def")


def _result(summary) -> dg.AssetCheckResult:
    return dg.AssetCheckResult(
        passed=summary.success, description=summary.describe(), metadata=check_metadata(summary)
    )


@dg.asset_check(asset="raw_projects", blocking=True, partitions_def=batches)
def raw_projects_suite(raw_projects: pd.DataFrame, validator: ExpectationsValidator) -> dg.AssetCheckResult:
    """Columns in order, integer unique ids, no nulls, parseable dates, sane lengths, no duplicate texts."""
    return _result(validator.validate(without_batch(raw_projects), suites.raw_projects_suite()))


@dg.asset_check(
    asset="raw_tags",
    blocking=True,
    partitions_def=batches,
    additional_ins={"raw_projects": dg.AssetIn("raw_projects")},
)
def raw_tags_suite(
    raw_tags: pd.DataFrame, raw_projects: pd.DataFrame, validator: ExpectationsValidator
) -> dg.AssetCheckResult:
    """Known tags only, one per project, and only for projects of the same batch."""
    suite = suites.raw_tags_suite(raw_projects["id"].dropna())
    return _result(validator.validate(without_batch(raw_tags), suite))


@dg.asset_check(
    asset="labeled_projects",
    blocking=True,
    partitions_def=batches,
    additional_ins={"holdout_projects": dg.AssetIn("holdout_projects")},
)
def labeled_projects_suite(
    labeled_projects: pd.DataFrame, holdout_projects: pd.DataFrame, validator: ExpectationsValidator
) -> dg.AssetCheckResult:
    """The training data: model classes only, unique texts, and nothing leaked from the holdout."""
    suite = suites.labeled_projects_suite(pd.to_numeric(holdout_projects["id"], errors="coerce").dropna())
    return _result(validator.validate(without_batch(labeled_projects), suite))


@dg.asset_check(asset="holdout_projects", blocking=True)
def holdout_projects_suite(
    holdout_projects: pd.DataFrame, validator: ExpectationsValidator
) -> dg.AssetCheckResult:
    """The frozen evaluation set must be as clean as the training data."""
    return _result(validator.validate(holdout_projects, suites.holdout_projects_suite()))
