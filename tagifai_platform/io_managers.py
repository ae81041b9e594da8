"""Where asset values are stored: tables in the warehouse, documents as JSON or Markdown.

Parameters, model references, evaluations and reports are documents, and plain files keep them
readable by people and tools alike (never pickles). Tables are written, audited and published
through :mod:`tagifai_platform.warehouse`, so a downstream step never reads data whose check failed.
"""

import json
import os
from pathlib import Path

import dagster as dg
import pandas as pd
import pyarrow as pa

from tagifai_platform.warehouse import SCHEMA, UNPARTITIONED, NotPublished, Warehouse


def document_path(base_dir: str, asset: str, run_id: str | None = None) -> Path:
    """Where an asset's document is: its latest value, or the value one run wrote."""
    if run_id is None:
        return Path(base_dir, f"{asset}.json")
    return Path(base_dir, "history", asset, f"{run_id}.json")


class DocumentIOManager(dg.ConfigurableIOManager):
    """An asset's latest value at ``<base_dir>/<asset key>``, and every value under ``history/``
    by run (what the policy engine decides on is the report of the run that raised the alert, even
    when a later run wrote a newer one); an op's value under ``runs/<run>/<step>``."""

    base_dir: str

    def _paths(self, context: dg.OutputContext | dg.InputContext, suffix: str) -> list[Path]:
        if context.has_asset_key:
            asset = "/".join(context.asset_key.path)
            latest = document_path(self.base_dir, asset).with_suffix(suffix)
            if isinstance(context, dg.OutputContext):
                return [latest, document_path(self.base_dir, asset, context.run_id).with_suffix(suffix)]
            return [latest]
        output = context if isinstance(context, dg.OutputContext) else context.upstream_output
        return [Path(self.base_dir, "runs", *output.get_identifier()).with_suffix(suffix)]

    def handle_output(self, context: dg.OutputContext, obj: dict | str) -> None:
        is_text = isinstance(obj, str)
        content = obj if is_text else json.dumps(obj, indent=2, sort_keys=True, default=str)
        paths = self._paths(context, ".md" if is_text else ".json")
        for path in reversed(paths):  # the run's own copy first, the latest last
            path.parent.mkdir(parents=True, exist_ok=True)
            partial = path.with_name(path.name + ".partial")
            partial.write_text(content)
            os.replace(partial, path)
        context.add_output_metadata({"path": dg.MetadataValue.path(str(paths[0]))})

    def load_input(self, context: dg.InputContext) -> dict | str:
        (record,) = self._paths(context, ".json")
        text = record.with_suffix(".md")
        if record.exists():
            return json.loads(record.read_text())
        if text.exists():
            return text.read_text()
        raise FileNotFoundError(f"No stored value at {record.with_suffix('')}: has it been materialized?")


# An audited asset names its blocking check here; the warehouse publishes it only when that passes.
AUDITED_BY = "tagifai/audited_by"


def audited_by(check_name: str) -> dict:
    """Definition metadata for an asset that is read only once ``check_name`` passed."""
    return {AUDITED_BY: check_name}


class WarehouseResource(dg.ConfigurableResource):
    """The warehouse, for checks that audit staged versions and readers that report batches."""

    database: str

    @property
    def warehouse(self) -> Warehouse:
        return Warehouse(self.database)

    def table(self, name: str) -> pd.DataFrame:
        """Every published partition of a table, as downstream assets read it."""
        return self.warehouse.published(name)

    def published_version(self, name: str) -> str | None:
        """The version of an unpartitioned table that readers get now (the run that wrote it)."""
        return self.warehouse.published_version(name)

    def publication_order(self, name: str) -> list[str]:
        """The published partitions of a table, the one published longest ago first."""
        return self.warehouse.publications(name)["partition"].tolist()

    def partition_report(self, name: str, partitions: list[str]) -> dict:
        """Which partitions a reader of every published one used, and which it did not, and why."""
        publications = self.warehouse.publications(name)
        notes = self.warehouse.exclusions(name, partitions)
        published = set(publications["partition"])
        return {
            "used": [
                {
                    "partition": row.partition,
                    "version": row.version,
                    "published_at": str(row.published_at),
                    "rows": None if pd.isna(row.rows) else int(row.rows),
                    **({"note": notes[row.partition]} if row.partition in notes else {}),
                }
                for row in publications.itertuples()
            ],
            "excluded": {
                partition: reason for partition, reason in notes.items() if partition not in published
            },
        }


class WarehouseIOManager(dg.ConfigurableIOManager):
    """Tables in the warehouse: written as a version, read only once published.

    A partition is stored with its rows; a reader of all partitions gets every published one. Tables
    are pandas frames or Arrow tables, as the asset's type says.
    """

    database: str

    def handle_output(self, context: dg.OutputContext, obj: pd.DataFrame | pa.Table) -> None:
        if not context.has_asset_key:  # an op's table: one partition per run, read by later steps
            table, partition = _op_table(context), context.run_id
            Warehouse(self.database).write(
                table, obj, version=context.run_id, partition=partition, publish=True
            )
            context.add_output_metadata({"table": f"{SCHEMA}.{table}", "partition": partition})
            return
        asset = context.asset_key.path[-1]
        check = (context.definition_metadata or {}).get(AUDITED_BY)
        # The asset's own partition: an unpartitioned asset in a run tagged with a batch (end_to_end)
        # still has exactly one partition, or two runs would publish it twice.
        partition = context.asset_partition_key if context.has_asset_partitions else UNPARTITIONED
        Warehouse(self.database).write(
            asset, obj, version=context.run_id, partition=partition, publish=not check
        )
        context.add_output_metadata(
            {
                "table": f"{SCHEMA}.{asset}",
                "version": context.run_id,
                "published": f"once {check} passes" if check else "yes",
            }
        )

    def load_input(self, context: dg.InputContext) -> pd.DataFrame | pa.Table:
        warehouse = Warehouse(self.database)
        wanted = context.dagster_type.typing_type
        published = warehouse.published_table if wanted is pa.Table else warehouse.published
        if not context.has_asset_key:
            upstream = context.upstream_output
            return published(_op_table(upstream), [upstream.run_id])
        asset = context.asset_key.path[-1]
        partitions = context.asset_partition_keys if context.has_asset_partitions else None
        try:
            return published(asset, partitions)
        except NotPublished as error:
            raise dg.Failure(f"Nothing to read: {error}") from error


def _op_table(context: dg.OutputContext) -> str:
    return f"{context.step_key}__{context.name}"
