"""The DataOps assets: raw files as they arrived, then the labeled data set the model learns from.

Raw and labeled assets are partitioned by batch and stored in the DuckDB warehouse with a
``batch`` column, so a bad batch never overwrites a good one and the data set is the union of the
batches that passed their checks.
"""

import dagster as dg
import pandas as pd

from tagifai_platform.data.batches import SOURCE_BATCH
from tagifai_platform.data.transform import label_projects
from tagifai_platform.dataops.metadata import frame_metadata
from tagifai_platform.dataops.partitions import batches
from tagifai_platform.dataops.resources import ProjectSource

GROUP = "dataops"
BATCH_COLUMN = "batch"
_STORED_BY_BATCH = {"partition_expr": BATCH_COLUMN}
_KINDS = {"pandas", "duckdb"}


def _raw_out(description: str) -> dg.AssetOut:
    return dg.AssetOut(
        dagster_type=pd.DataFrame,
        group_name=GROUP,
        description=description,
        metadata=_STORED_BY_BATCH,
        kinds=_KINDS,
    )


@dg.multi_asset(
    outs={
        "raw_projects": _raw_out("Projects of one batch, exactly as they arrived (all text)."),
        "raw_tags": _raw_out("Tags of one batch, exactly as they arrived (all text)."),
    },
    partitions_def=batches,
)
def extract_batch(context: dg.AssetExecutionContext, source: ProjectSource):
    """Read a batch's projects and tags together: a lone-column tags file needs the projects' ids."""
    batch = context.partition_key
    projects, tags = source.read_batch(batch)
    for kind, frame in (("projects", projects), ("tags", tags)):
        yield dg.Output(
            frame.assign(**{BATCH_COLUMN: batch}),
            output_name=f"raw_{kind}",
            metadata=frame_metadata(frame, source=source.file_location(batch, kind), batch=batch),
        )


def without_batch(frame: pd.DataFrame) -> pd.DataFrame:
    return frame.drop(columns=[BATCH_COLUMN], errors="ignore")


@dg.asset(partitions_def=batches, group_name=GROUP, metadata=_STORED_BY_BATCH, kinds=_KINDS)
def labeled_projects(
    context: dg.AssetExecutionContext, raw_projects: pd.DataFrame, raw_tags: pd.DataFrame
) -> dg.Output[pd.DataFrame]:
    """Tagged projects with tags folded into the model's classes and the ``text`` it reads."""
    batch = context.partition_key
    labeled = label_projects(without_batch(raw_projects), without_batch(raw_tags))
    metadata = frame_metadata(labeled, source=f"raw_projects + raw_tags [{batch}]", batch=batch)
    return dg.Output(
        labeled.assign(**{BATCH_COLUMN: batch}),
        metadata={**metadata, "dropped_rows": len(raw_projects) - len(labeled)},
    )


@dg.asset(group_name=GROUP, kinds=_KINDS)
def holdout_projects(source: ProjectSource) -> dg.Output[pd.DataFrame]:
    """The frozen evaluation set: never trained on, and checked to stay apart from the labeled data."""
    holdout = source.read_holdout()
    return dg.Output(
        holdout,
        metadata=frame_metadata(holdout, source=source.file_location(SOURCE_BATCH, "holdout"), batch=None),
    )
