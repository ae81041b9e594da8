"""What more than one Dagster domain uses: group names, the batches partitions, shared resources.

Each domain package (``dataops``, ``mlops``, ``continual``) imports the plain-Python core, this
module, the IO managers and the audit step, and never another domain's modules, so a domain can be
read, tested and changed on its own.
"""

from __future__ import annotations

from pathlib import Path

import dagster as dg
import pandas as pd
import pyarrow as pa
from pydantic import PrivateAttr

from tagifai_platform.data.transform import tag_distribution
from tagifai_platform.data.validation import (
    ValidationSummary,
    ephemeral_context,
    validate_frame,
    validate_query,
)
from tagifai_platform.registry import ModelRegistry
from tagifai_platform.warehouse import Warehouse

DATAOPS, MLOPS, MONITORING = "dataops", "mlops", "monitoring"

# Every batch of data (the source and each landing batch) partitions the raw and labeled assets.
batches = dg.DynamicPartitionsDefinition(name="batches")

# The IO manager of documents (parameters, model records, evaluations, reports).
DOCUMENTS = "documents"

PREVIEW_ROWS = 5
PREVIEW_WIDTH = 80


def frame_metadata(frame: pd.DataFrame | pa.Table, *, source: str, batch: str | None) -> dict:
    """Materialization metadata of a table (pandas or Arrow): counts, schema, preview, tag mix.

    Of an Arrow table only the first rows and the tags are converted to pandas.
    """
    arrow = isinstance(frame, pa.Table)
    head = frame.slice(0, PREVIEW_ROWS).to_pandas() if arrow else frame.head(PREVIEW_ROWS)
    types = zip(frame.schema.names, frame.schema.types, strict=True) if arrow else frame.dtypes.items()
    preview = head.astype(str).apply(lambda column: column.str.slice(0, PREVIEW_WIDTH))
    metadata = {
        "dagster/row_count": len(frame),
        "dagster/column_schema": dg.TableSchema(
            columns=[dg.TableColumn(name=str(name), type=str(kind)) for name, kind in types]
        ),
        "preview": dg.MetadataValue.md(preview.to_markdown(index=False)),
        "source": source,
    }
    if batch is not None:
        metadata["batch"] = batch
    if "tag" in (frame.column_names if arrow else frame.columns):
        tags = frame.select(["tag"]).to_pandas() if arrow else frame
        metadata["tag_distribution"] = dg.MetadataValue.json(tag_distribution(tags.dropna(subset=["tag"])))
    return metadata


class ExpectationsValidator(dg.ConfigurableResource):
    """Runs Great Expectations suites in one ephemeral context per step (GX is slow to import)."""

    _context = PrivateAttr(default=None)

    @property
    def context(self):
        if self._context is None:
            self._context = ephemeral_context()
        return self._context

    def validate(self, frame: pd.DataFrame, suite) -> ValidationSummary:
        return validate_frame(self.context, frame, suite)

    def validate_in(self, warehouse: Warehouse, query: str, suite) -> ValidationSummary:
        """Validate the rows of ``query`` inside the warehouse (GX on DuckDB through SQLAlchemy)."""
        return validate_query(self.context, warehouse.reader, query, suite)


class ModelRegistryResource(dg.ConfigurableResource):
    """The MLflow tracking store and model registry at one URI (SQLite under the home by default);
    ``artifact_root`` None leaves the artifacts to the tracking server."""

    tracking_uri: str
    artifact_root: str | None = None

    @property
    def registry(self) -> ModelRegistry:
        return ModelRegistry(self.tracking_uri, self.artifact_root)


class ReportStore(dg.ConfigurableResource):
    """Pictures and reports meant for people, kept under the home."""

    base_dir: str

    def write(self, name: str, content: bytes | str) -> Path:
        path = Path(self.base_dir, name)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content if isinstance(content, bytes) else content.encode())
        return path


class LabelingDesk(dg.ConfigurableResource):
    """Where low-confidence requests go out for annotation and annotated files come back.

    Annotators fill the ``tag`` column of a queue file and drop it into ``annotated/``; the
    training set of a retraining reads them back, and goes ahead once ``min_new_labels`` rows
    (annotations and labeled batches) are new to the champion.
    """

    base_dir: str
    min_new_labels: int

    def send(self, queue: pd.DataFrame, name: str) -> Path:
        path = Path(self.base_dir, "queue", f"{name}.csv")
        path.parent.mkdir(parents=True, exist_ok=True)
        queue.to_csv(path, index=False)
        return path

    def _files(self, folder: str) -> list[Path]:
        return sorted(Path(self.base_dir, folder).glob("*.csv"))

    def annotated(self) -> pd.DataFrame:
        """Every annotated file; one that is not UTF-8 or lacks a column is refused with its name."""
        from tagifai_platform.monitoring.labeling import read_annotated

        return read_annotated(self._files("annotated"))

    def true_tags(self, labeled: pd.DataFrame) -> pd.DataFrame:
        """The true tag of each text in ``labeled`` batches and annotated files (``text``, ``tag``)."""
        from tagifai_platform.monitoring.labeling import true_tags

        return true_tags(labeled, self.annotated())

    def out_for_labeling(self) -> set[str]:
        """Texts queued or annotated already, which a new queue must not send again."""
        from tagifai_platform.monitoring.labeling import texts_out_for_labeling

        return texts_out_for_labeling(self._files("queue") + self._files("annotated"))
