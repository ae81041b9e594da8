"""The warehouse, where a table is read only once its audit passed (write, audit, publish).

Every write is kept as a *version* (the run that wrote it) beside the version that is published.
An asset without a blocking check is published as it is written; an audited asset waits for its
check, which reads the staged version and publishes it only when it passes. So a batch that fails
its checks stays in the warehouse for inspection, but nothing downstream reads it, and the last
good version of that batch stays published.

Where it lives is configuration (``TAGIFAI_WAREHOUSE``): a DuckDB file by default (one writer at a
time, :mod:`.duckdb_file`), or a PostgreSQL database that runs on several machines write at once
(:mod:`.postgres`). The rules below are the same SQL on both; each backend module holds only what
differs (connecting, locking, turning a frame into a table).

Layout (schema ``tagifai``), known only to this package:

    <asset>__versions   the rows of every kept version, with ``_partition`` and ``_version``
    <asset>             a view: the published version of every partition
    _versions           one row per kept version: when written, how many rows
    _publications       the published version of each (asset, partition) and when it was published
    _audits             every audit: version, check, passed, what it said

Timestamps are stored as naive UTC; tz-aware columns are converted on the way in, never shifted by
the machine's own zone. Plain Python (no Dagster): the IO manager and the resources wrap it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pandas as pd
import pyarrow as pa

SCHEMA = "tagifai"
UNPARTITIONED = ""
_PARTITION, _VERSION = "_partition", "_version"

# The bookkeeping tables, created on the first write (both backends speak these types).
TABLES = (
    f"create schema if not exists {SCHEMA}",
    f"create table if not exists {SCHEMA}._versions (asset varchar, partition varchar, "
    "version varchar, written_at timestamp, rows bigint)",
    f"create table if not exists {SCHEMA}._publications (asset varchar, partition varchar, "
    "version varchar, published_at timestamp, primary key (asset, partition))",
    f"create table if not exists {SCHEMA}._audits (asset varchar, partition varchar, "
    "version varchar, checked_by varchar, passed boolean, description varchar, audited_at timestamp)",
)


class NotPublished(LookupError):
    """Asked for data that has no version which passed its audit."""


@dataclass(frozen=True)
class Staged:
    """The latest version written for one partition of an asset, as its audit sees it."""

    asset: str
    partition: str
    version: str
    frame: pd.DataFrame


@dataclass(frozen=True)
class StagedQuery:
    """The same version as :class:`Staged`, as a query over the warehouse instead of its rows: for an
    audit that validates the data where it lives (see :meth:`Warehouse.reader`)."""

    asset: str
    partition: str
    version: str
    query: str


def _now() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


def _utc_naive(frame: pd.DataFrame | pa.Table) -> pd.DataFrame | pa.Table:
    if isinstance(frame, pa.Table):  # Arrow keeps zoned times as UTC: dropping the zone keeps the values
        return frame.cast(
            pa.schema(
                field.with_type(pa.timestamp(field.type.unit))
                if pa.types.is_timestamp(field.type) and field.type.tz
                else field
                for field in frame.schema
            )
        )
    zoned = [name for name, dtype in frame.dtypes.items() if isinstance(dtype, pd.DatetimeTZDtype)]
    if not zoned:
        return frame.reset_index(drop=True)
    zones_dropped = {name: frame[name].dt.tz_convert("UTC").dt.tz_localize(None) for name in zoned}
    return frame.assign(**zones_dropped).reset_index(drop=True)


def _names(frame: pd.DataFrame | pa.Table) -> list[str]:
    return frame.column_names if isinstance(frame, pa.Table) else list(frame.columns)


def _data(asset: str) -> str:
    return f'{SCHEMA}."{asset}__versions"'


def _quoted(columns: Sequence[str], prefix: str = "") -> str:
    return ", ".join(f'{prefix}"{name}"' for name in columns)


def _published_sql(asset: str, columns: Sequence[str]) -> str:
    return (
        f"select {_quoted(columns, 'd.')} from {_data(asset)} d "
        f"join {SCHEMA}._publications p on p.asset = '{asset}' "
        f"and p.partition = d.{_PARTITION} and p.version = d.{_VERSION}"
    )


def open_backend(location: Path | str):
    """The backend for ``location``: a ``postgresql://`` URL, or else the path of a DuckDB file."""
    if str(location).startswith("postgresql"):
        from tagifai_platform.warehouse.postgres import PostgresWarehouse

        return PostgresWarehouse(str(location))
    from tagifai_platform.warehouse.duckdb_file import DuckDBFile

    return DuckDBFile(Path(location))


class Warehouse:
    def __init__(self, location: Path | str):
        self.backend = open_backend(location)

    # -- writing and auditing ------------------------------------------------------------------

    def write(
        self,
        asset: str,
        frame: pd.DataFrame | pa.Table,
        *,
        version: str,
        partition: str = UNPARTITIONED,
        publish: bool,
    ) -> None:
        """Store ``frame`` (pandas or Arrow) as ``version`` of one partition; every other unpublished
        version goes."""
        frame = _utc_naive(frame)
        columns = _names(frame)
        with self.backend.transaction(TABLES) as db:
            db.lock(asset)
            db.stage(frame)  # readable as the table ``incoming``
            if not self._exists(db, f"{asset}__versions"):
                db.rows(
                    f"create table {_data(asset)} as select *, ''::varchar as {_PARTITION}, "
                    f"''::varchar as {_VERSION} from incoming limit 0"
                )
            else:
                self._add_missing_columns(db, asset, columns)
            keep = self._published_version(db, asset, partition)
            db.rows(
                f"delete from {_data(asset)} where {_PARTITION} = ? and {_VERSION} is distinct from ?",
                [partition, keep],
            )
            db.rows(
                f"delete from {SCHEMA}._versions "
                "where asset = ? and partition = ? and version is distinct from ?",
                [asset, partition, keep],
            )
            db.rows(
                f"insert into {_data(asset)} ({_quoted(columns)}, {_PARTITION}, {_VERSION}) "
                f"select {_quoted(columns)}, ?, ? from incoming",
                [partition, version],
            )
            db.rows(
                f"insert into {SCHEMA}._versions values (?, ?, ?, ?, ?)",
                [asset, partition, version, _now(), len(frame)],
            )
            db.rows(
                f'create or replace view {SCHEMA}."{asset}" as '
                f"{_published_sql(asset, self._columns(db, asset))}"
            )
            if publish:
                self._publish(db, asset, partition, version)

    def staged(self, asset: str, partition: str = UNPARTITIONED) -> Staged:
        """The latest version written for ``partition``, whether or not it is published."""
        with self.backend.reading() as db:
            version = self._latest_version(db, asset, partition)
            if version is None:
                raise NotPublished(f"{_name(asset, partition)} has never been written.")
            frame = db.frame(
                f"select {_quoted(self._columns(db, asset))} from {_data(asset)} "
                f"where {_PARTITION} = ? and {_VERSION} = ?",
                [partition, version],
            )
        return Staged(asset, partition, version, frame)

    def staged_query(self, asset: str, partition: str = UNPARTITIONED) -> StagedQuery:
        """The latest version written for ``partition`` as a DuckDB query on a :meth:`reader` connection.

        The suites are DuckDB SQL whatever the warehouse: on the DuckDB file the query reads the
        version where it is; on PostgreSQL the backend copies the version into a DuckDB file of its
        own first.
        """
        with self.backend.reading() as db:
            version = self._latest_version(db, asset, partition)
            if version is None:
                raise NotPublished(f"{_name(asset, partition)} has never been written.")
            columns = self._columns(db, asset)
        select = (
            f"select {_quoted(columns)} from {_data(asset)} "
            f"where {_PARTITION} = {_literal(partition)} and {_VERSION} = {_literal(version)}"
        )
        query = self.backend.in_duckdb(
            select, f"{asset}__{partition}", load=lambda: self.staged(asset, partition).frame
        )
        return StagedQuery(asset, partition, version, query)

    def reader(self):
        """A read-only DuckDB connection on which :meth:`staged_query`'s queries run; the caller closes it."""
        return self.backend.duckdb_reader()

    def audit(self, staged: Staged | StagedQuery, *, checked_by: str, passed: bool, description: str) -> None:
        """Record what the check said of a staged version: a pass publishes it.

        A failure of the version that is published already (a check run again, say against a new
        holdout) withdraws it, so that nothing reads it from then on.
        """
        with self.backend.transaction(TABLES) as db:
            db.lock(staged.asset)
            db.rows(
                f"insert into {SCHEMA}._audits values (?, ?, ?, ?, ?, ?, ?)",
                [staged.asset, staged.partition, staged.version, checked_by, passed, description, _now()],
            )
            if passed:
                self._publish(db, staged.asset, staged.partition, staged.version)
            elif self._published_version(db, staged.asset, staged.partition) == staged.version:
                db.rows(
                    f"delete from {SCHEMA}._publications where asset = ? and partition = ?",
                    [staged.asset, staged.partition],
                )

    def _publish(self, db, asset: str, partition: str, version: str) -> None:
        previous = self._published_version(db, asset, partition)
        db.rows(
            f"insert into {SCHEMA}._publications values (?, ?, ?, ?) on conflict (asset, partition) "
            "do update set version = excluded.version, published_at = excluded.published_at",
            [asset, partition, version, _now()],
        )
        if previous is not None and previous != version:  # superseded: nothing reads it any more
            db.rows(
                f"delete from {_data(asset)} where {_PARTITION} = ? and {_VERSION} = ?", [partition, previous]
            )
            db.rows(
                f"delete from {SCHEMA}._versions where asset = ? and partition = ? and version = ?",
                [asset, partition, previous],
            )

    # -- reading ---------------------------------------------------------------------------------

    def published(self, asset: str, partitions: Sequence[str] | None = None) -> pd.DataFrame:
        """The published rows of ``partitions`` (default: all); unpublished partitions are left out.

        A single partition asked for by name must be published: its reader depends on exactly it.
        """
        return self._published(asset, partitions, arrow=False)

    def published_table(self, asset: str, partitions: Sequence[str] | None = None) -> pa.Table:
        """:meth:`published` as an Arrow table, for readers that hand the rows to DuckDB again."""
        return self._published(asset, partitions, arrow=True)

    def _published(self, asset: str, partitions: Sequence[str] | None, arrow: bool):
        with self.backend.reading() as db:
            if not self._exists(db, f"{asset}__versions"):
                raise NotPublished(f"{asset} has not been materialized yet.")
            query, parameters = _published_sql(asset, self._columns(db, asset)), []
            if partitions is not None:
                query += f" where d.{_PARTITION} in (select unnest(?::varchar[]))"
                parameters.append(list(partitions))
            frame = db.table(query, parameters) if arrow else db.frame(query, parameters)
            if partitions is not None and len(partitions) == 1 and len(frame) == 0:
                published = self._published_version(db, asset, partitions[0])
                if published is None:
                    raise NotPublished(self._why_unpublished(db, asset, partitions[0]))
        return frame

    def published_version(self, asset: str, partition: str = UNPARTITIONED) -> str | None:
        """The version of one partition that readers get, if any."""
        with self.backend.reading() as db:
            return (
                self._published_version(db, asset, partition) if self._exists(db, "_publications") else None
            )

    def publications(self, asset: str) -> pd.DataFrame:
        """One row per published partition: version, when it was published, and its row count."""
        with self.backend.reading() as db:
            if not self._exists(db, "_publications"):
                return pd.DataFrame(columns=["partition", "version", "published_at", "rows"])
            return db.frame(
                f"select p.partition, p.version, p.published_at, v.rows from {SCHEMA}._publications p "
                f"left join {SCHEMA}._versions v using (asset, partition, version) "
                "where p.asset = ? order by p.published_at",
                [asset],
            )

    def exclusions(self, asset: str, partitions: Sequence[str]) -> dict[str, str]:
        """Why each of ``partitions`` is not read as its latest write: never passed, or superseded."""
        reasons = {}
        with self.backend.reading() as db:
            if not self._exists(db, "_versions"):
                return {partition: "never ingested" for partition in partitions}
            for partition in partitions:
                latest = self._latest_version(db, asset, partition)
                published = self._published_version(db, asset, partition)
                if latest is None and published is None:
                    reasons[partition] = "never ingested"
                elif published is None:
                    reasons[partition] = self._why_unpublished(db, asset, partition)
                elif latest is not None and latest != published:
                    reasons[partition] = (
                        f"its latest version ({latest}) is not published "
                        f"({self._audit_note(db, asset, partition, latest)}); "
                        f"the version of run {published} is read instead"
                    )
        return reasons

    # -- helpers ---------------------------------------------------------------------------------

    def _why_unpublished(self, db, asset: str, partition: str) -> str:
        latest = self._latest_version(db, asset, partition)
        if latest is None:
            return f"{_name(asset, partition)} has never been written."
        note = self._audit_note(db, asset, partition, latest)
        return f"{_name(asset, partition)} has no version that passed its checks (run {latest}: {note})."

    @staticmethod
    def _audit_note(db, asset: str, partition: str, version: str) -> str:
        audits = db.rows(
            f"select checked_by, description from {SCHEMA}._audits where asset = ? and partition = ? "
            "and version = ? and not passed order by audited_at desc limit 1",
            [asset, partition, version],
        )
        if not audits:
            return "not audited yet"
        return f"failed {audits[0][0]}: {audits[0][1][:300]}"

    @staticmethod
    def _latest_version(db, asset: str, partition: str) -> str | None:
        rows = db.rows(
            f"select version from {SCHEMA}._versions where asset = ? and partition = ? "
            "order by written_at desc limit 1",
            [asset, partition],
        )
        return rows[0][0] if rows else None

    @staticmethod
    def _published_version(db, asset: str, partition: str) -> str | None:
        rows = db.rows(
            f"select version from {SCHEMA}._publications where asset = ? and partition = ?",
            [asset, partition],
        )
        return rows[0][0] if rows else None

    @staticmethod
    def _exists(db, table: str) -> bool:
        return bool(
            db.rows(
                "select 1 from information_schema.tables where table_schema = ? and table_name = ?",
                [SCHEMA, table],
            )
        )

    @staticmethod
    def _columns(db, asset: str) -> list[str]:
        """The asset's own columns in the order they were added (the bookkeeping ones left out)."""
        rows = db.rows(
            "select column_name from information_schema.columns where table_schema = ? "
            "and table_name = ? and column_name not in (?, ?) order by ordinal_position",
            [SCHEMA, f"{asset}__versions", _PARTITION, _VERSION],
        )
        return [name for (name,) in rows]

    def _add_missing_columns(self, db, asset: str, columns: list[str]) -> None:
        existing = set(self._columns(db, asset))
        for name in columns:
            if name not in existing:
                db.rows(f'alter table {_data(asset)} add column "{name}" {db.incoming_type(name)}')


def _literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _name(asset: str, partition: str) -> str:
    return f"{asset} [{partition}]" if partition else asset
