"""The DataOps assets: raw files as they arrived, then the labeled data set the model learns from.

Raw and labeled assets are partitioned by batch and stored in the DuckDB warehouse with a
``batch`` column; they pass through as Arrow tables, which DuckDB reads and writes without a copy.
Each is audited by its blocking check before anything reads it: a batch that fails stays in the
warehouse for inspection, while its last good version stays the one read, and the data set is the
union of the batches that passed.
"""

import dagster as dg
import pandas as pd
import pyarrow as pa

from tagifai_platform.data.transform import labeled_table
from tagifai_platform.dataops.resources import ProjectSource
from tagifai_platform.io_managers import audited_by
from tagifai_platform.shared import DATAOPS, batches, frame_metadata
from tagifai_platform.version import source_version

BATCH_COLUMN = "batch"
# The sensor compares this with the files in the landing folder: what was ingested, not requested.
FINGERPRINT = "fingerprint"
_KINDS = {"pandas", "duckdb"}


def _raw_out(description: str, check: str) -> dg.AssetOut:
    return dg.AssetOut(
        dagster_type=pa.Table,
        group_name=DATAOPS,
        description=description,
        metadata=audited_by(check),
        kinds=_KINDS,
        code_version=source_version("tagifai_platform.data.sources"),
    )


@dg.multi_asset(
    outs={
        "raw_projects": _raw_out(
            "Projects of one batch, exactly as they arrived (all text).", "raw_projects_suite"
        ),
        "raw_tags": _raw_out("Tags of one batch, exactly as they arrived (all text).", "raw_tags_suite"),
    },
    partitions_def=batches,
)
def extract_batch(context: dg.AssetExecutionContext, source: ProjectSource):
    """Read a batch's projects and tags together: a lone-column tags file needs the projects' ids."""
    batch = context.partition_key
    projects, tags, fingerprint = source.read_batch(batch)
    for kind, frame in (("projects", projects), ("tags", tags)):
        metadata = frame_metadata(frame, source=source.file_location(batch, kind), batch=batch)
        yield dg.Output(
            with_batch(frame, batch),
            output_name=f"raw_{kind}",
            data_version=dg.DataVersion(fingerprint),
            metadata={**metadata, FINGERPRINT: fingerprint},
        )


def with_batch(table: pa.Table, batch: str) -> pa.Table:
    return table.append_column(BATCH_COLUMN, pa.repeat(batch, len(table)))


def without_batch(table: pa.Table) -> pa.Table:
    return table.drop_columns([BATCH_COLUMN]) if BATCH_COLUMN in table.column_names else table


@dg.asset(
    partitions_def=batches,
    group_name=DATAOPS,
    metadata=audited_by("labeled_projects_suite"),
    kinds=_KINDS,
    code_version=source_version("tagifai_platform.data.transform"),
)
def labeled_projects(
    context: dg.AssetExecutionContext, raw_projects: pa.Table, raw_tags: pa.Table
) -> dg.Output[pa.Table]:
    """Tagged projects with tags folded into the model's classes and the ``text`` it reads."""
    batch = context.partition_key
    labeled = labeled_table(without_batch(raw_projects), without_batch(raw_tags))
    metadata = frame_metadata(labeled, source=f"raw_projects + raw_tags [{batch}]", batch=batch)
    return dg.Output(
        with_batch(labeled, batch),
        metadata={**metadata, "dropped_rows": len(raw_projects) - len(labeled)},
    )


@dg.asset(
    group_name=DATAOPS,
    metadata=audited_by("holdout_projects_suite"),
    kinds=_KINDS,
    code_version=source_version("tagifai_platform.data.sources"),
)
def holdout_projects(source: ProjectSource) -> dg.Output[pd.DataFrame]:
    """The frozen evaluation set: never trained on, and checked to stay apart from the labeled data."""
    holdout = source.read_holdout()
    return dg.Output(
        holdout,
        metadata=frame_metadata(holdout, source=source.holdout_location(), batch=None),
    )
