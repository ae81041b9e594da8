"""Everything the DataOps domain contributes to the code location."""

import dagster as dg

from tagifai_platform.dataops import checks
from tagifai_platform.dataops.assets import extract_batch, holdout_projects, labeled_projects
from tagifai_platform.dataops.jobs import dataops_job, ingest_batch_job
from tagifai_platform.dataops.sensors import landing_batches

defs = dg.Definitions(
    assets=[extract_batch, labeled_projects, holdout_projects],
    asset_checks=[
        checks.raw_projects_suite,
        checks.raw_tags_suite,
        checks.labeled_projects_suite,
        checks.holdout_projects_suite,
    ],
    jobs=[dataops_job, ingest_batch_job],
    sensors=[landing_batches],
)
