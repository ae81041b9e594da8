"""Resources of the DataOps domain: where data comes from, and the validator that judges it."""

from __future__ import annotations

from pathlib import Path

import dagster as dg
import pandas as pd
from pydantic import PrivateAttr

from tagifai_platform.data import sources
from tagifai_platform.data.batches import SOURCE_BATCH, batch_file
from tagifai_platform.data.validation import ValidationSummary, ephemeral_context, validate_frame
from tagifai_platform.dataops.partitions import batches


class ProjectSource(dg.ConfigurableResource):
    """Reads a batch's files: the ``source`` batch from ``location``, the others from ``landing``."""

    location: str
    landing: str

    def setup_for_execution(self, context: dg.InitResourceContext) -> None:
        # The configured source is always a batch, so `dagster job execute -j dataops` needs no
        # partition argument on a fresh instance.
        instance = context.instance
        if instance is not None and not instance.has_dynamic_partition(batches.name, SOURCE_BATCH):
            instance.add_dynamic_partitions(batches.name, [SOURCE_BATCH])

    def file_location(self, batch: str, kind: str) -> str:
        if batch == SOURCE_BATCH:
            return sources.join_location(self.location, f"{kind}.csv")
        try:
            return str(batch_file(Path(self.landing), batch, kind))
        except FileNotFoundError as error:
            raise sources.SourceError(f"{error} Batch files must stay in TAGIFAI_LANDING.") from error

    def read_batch(self, batch: str) -> tuple[pd.DataFrame, pd.DataFrame]:
        projects = sources.read_projects(self.file_location(batch, "projects"))
        return projects, sources.read_tags(self.file_location(batch, "tags"), projects)

    def read_holdout(self) -> pd.DataFrame:
        return sources.read_holdout(sources.join_location(self.location, "holdout.csv"))


class ExpectationsValidator(dg.ConfigurableResource):
    """Runs Great Expectations suites in one ephemeral context per step (GX is slow to import)."""

    _context = PrivateAttr(default=None)

    def validate(self, frame: pd.DataFrame, suite) -> ValidationSummary:
        if self._context is None:
            self._context = ephemeral_context()
        return validate_frame(self._context, frame, suite)
