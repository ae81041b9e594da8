"""DataOps jobs: the whole graph on the configured source, and one landing batch."""

import dagster as dg

from tagifai_platform.data.batches import SOURCE_BATCH
from tagifai_platform.dataops.assets import extract_batch, labeled_projects
from tagifai_platform.shared import DATAOPS, batches

# Runs without a partition argument ingest the configured source.
dataops_job = dg.define_asset_job(
    "dataops",
    selection=dg.AssetSelection.groups(DATAOPS),
    description="Extract, validate and label the configured source (TAGIFAI_SOURCE) and its holdout.",
    tags={"dagster/partition": SOURCE_BATCH},
)

ingest_batch_job = dg.define_asset_job(
    "ingest_batch",
    selection=dg.AssetSelection.assets(extract_batch, labeled_projects),
    partitions_def=batches,
    description="Extract, validate and label one batch dropped into the landing directory.",
)
