"""Materialization metadata of tables: counts, schema, preview, tag mix."""

from __future__ import annotations

import dagster as dg
import pandas as pd

from tagifai_platform.data.transform import tag_distribution

PREVIEW_ROWS = 5
PREVIEW_WIDTH = 80


def frame_metadata(frame: pd.DataFrame, *, source: str, batch: str | None) -> dict:
    preview = frame.head(PREVIEW_ROWS).astype(str).apply(lambda column: column.str.slice(0, PREVIEW_WIDTH))
    metadata = {
        "dagster/row_count": len(frame),
        "dagster/column_schema": dg.TableSchema(
            columns=[dg.TableColumn(name=str(name), type=str(dtype)) for name, dtype in frame.dtypes.items()]
        ),
        "preview": dg.MetadataValue.md(preview.to_markdown(index=False)),
        "source": source,
    }
    if batch is not None:
        metadata["batch"] = batch
    if "tag" in frame.columns:
        metadata["tag_distribution"] = dg.MetadataValue.json(tag_distribution(frame.dropna(subset=["tag"])))
    return metadata
