"""Resources of the DataOps domain: where data comes from, and the validator that judges it."""

from __future__ import annotations

from pathlib import Path

import dagster as dg
import pandas as pd
import pyarrow as pa
from sqlalchemy.exc import IntegrityError

from tagifai_platform.data import sources
from tagifai_platform.data.batches import SOURCE_BATCH, batch_file, content_fingerprint
from tagifai_platform.shared import batches


class ProjectSource(dg.ConfigurableResource):
    """Reads a batch's files: the ``source`` batch from ``location``, the others from ``landing``."""

    location: str
    landing: str

    def setup_for_execution(self, context: dg.InitResourceContext) -> None:
        # The configured source is always a batch, so `dagster job execute -j dataops` needs no
        # partition argument on a fresh instance.
        instance = context.instance
        if instance is None or instance.has_dynamic_partition(batches.name, SOURCE_BATCH):
            return
        try:
            instance.add_dynamic_partitions(batches.name, [SOURCE_BATCH])
        except IntegrityError:
            # On SQLite storage Dagster looks, then inserts: two steps starting at once in two
            # processes (Celery workers) both looked, and the second insert broke the unique key.
            if not instance.has_dynamic_partition(batches.name, SOURCE_BATCH):
                raise

    def file_location(self, batch: str, kind: str) -> str:
        if batch == SOURCE_BATCH:
            return sources.join_location(self.location, f"{kind}.csv")
        try:
            return str(batch_file(Path(self.landing), batch, kind))
        except FileNotFoundError as error:
            raise sources.SourceError(f"{error} Batch files must stay in TAGIFAI_LANDING.") from error

    def describe_location(self, batch: str, kind: str) -> str:
        """Where a batch's file is, for messages: still right after the file has been removed."""
        try:
            return self.file_location(batch, kind)
        except sources.SourceError:
            return f"the {kind} file of batch {batch!r} (no longer in {self.landing})"

    def read_batch(self, batch: str) -> tuple[pa.Table, pa.Table, str]:
        """The batch's projects and tags, and the fingerprint of the bytes they were read from."""
        projects_at, tags_at = self.file_location(batch, "projects"), self.file_location(batch, "tags")
        projects_content, tags_content = sources.read_bytes(projects_at), sources.read_bytes(tags_at)
        projects = sources.parse_projects(projects_content, projects_at)
        tags = sources.parse_tags(tags_content, tags_at, projects)
        return projects, tags, content_fingerprint(projects_content, tags_content)

    def holdout_location(self) -> str:
        return sources.join_location(self.location, "holdout.csv")

    def read_holdout(self) -> pd.DataFrame:
        return sources.read_holdout(self.holdout_location())
