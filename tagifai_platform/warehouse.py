"""The DuckDB warehouse, where a table is read only once its audit passed (write, audit, publish).

Every write is kept as a *version* (the run that wrote it) beside the version that is published.
An asset without a blocking check is published as it is written; an audited asset waits for its
check, which reads the staged version and publishes it only when it passes. So a batch that fails
its checks stays in the warehouse for inspection, but nothing downstream reads it, and the last
good version of that batch stays published.

Layout (schema ``tagifai``), known only to this module:

    <asset>__versions   the rows of every kept version, with ``_partition`` and ``_version``
    <asset>             a view: the published version of every partition
    _versions           one row per kept version: when written, how many rows
    _publications       the published version of each (asset, partition) and when it was published
    _audits             every audit: version, check, passed, what it said

Timestamps are stored as naive UTC; tz-aware columns are converted on the way in, never shifted by
the machine's own zone. Plain Python (no Dagster): the IO manager and the resources wrap it.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pandas as pd

SCHEMA = "tagifai"
UNPARTITIONED = ""
LOCK_TIMEOUT_SECONDS = 60
_PARTITION, _VERSION = "_partition", "_version"


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


def _utc_naive(frame: pd.DataFrame) -> pd.DataFrame:
    zoned = [name for name, dtype in frame.dtypes.items() if isinstance(dtype, pd.DatetimeTZDtype)]
    if not zoned:
        return frame
    return frame.assign(**{name: frame[name].dt.tz_convert("UTC").dt.tz_localize(None) for name in zoned})


def _data(asset: str) -> str:
    return f'{SCHEMA}."{asset}__versions"'


def _published_sql(asset: str) -> str:
    return (
        f"select d.* exclude ({_PARTITION}, {_VERSION}) from {_data(asset)} d "
        f"join {SCHEMA}._publications p on p.asset = '{asset}' "
        f"and p.partition = d.{_PARTITION} and p.version = d.{_VERSION}"
    )


class Warehouse:
    def __init__(self, path: Path | str):
        self.path = Path(path)

    @contextlib.contextmanager
    def _connect(self, read_only: bool = False) -> Iterator:
        if read_only and not self.path.exists():
            raise NotPublished(f"The warehouse {self.path} does not exist yet: run the dataops job first.")
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self._open(read_only) as connection:
            yield connection

    def _open(self, read_only: bool):
        """A connection, waiting while another process holds the file (DuckDB has one writer at a time).

        Steps of one run may run in parallel processes (the multiprocess executor), and each holds
        the file only for the few statements of one read or write.
        """
        import duckdb

        deadline = time.monotonic() + LOCK_TIMEOUT_SECONDS
        while True:
            try:
                return duckdb.connect(str(self.path), read_only=read_only)
            except duckdb.IOException as error:
                if "lock" not in str(error).lower() or time.monotonic() > deadline:
                    raise
                time.sleep(0.2)

    @contextlib.contextmanager
    def _transaction(self) -> Iterator:
        with self._connect() as db:
            db.execute(f"create schema if not exists {SCHEMA}")
            db.execute(
                f"create table if not exists {SCHEMA}._versions (asset varchar, partition varchar, "
                "version varchar, written_at timestamp, rows bigint)"
            )
            db.execute(
                f"create table if not exists {SCHEMA}._publications (asset varchar, partition varchar, "
                "version varchar, published_at timestamp, primary key (asset, partition))"
            )
            db.execute(
                f"create table if not exists {SCHEMA}._audits (asset varchar, partition varchar, "
                "version varchar, checked_by varchar, passed boolean, description varchar, "
                "audited_at timestamp)"
            )
            db.execute("begin transaction")
            try:
                yield db
            except BaseException:
                db.execute("rollback")
                raise
            db.execute("commit")

    # -- writing and auditing ------------------------------------------------------------------

    def write(
        self, asset: str, frame: pd.DataFrame, *, version: str, partition: str = UNPARTITIONED, publish: bool
    ) -> None:
        """Store ``frame`` as ``version`` of one partition; every other unpublished version goes."""
        frame = _utc_naive(frame).reset_index(drop=True)
        with self._transaction() as db:
            db.register("incoming", frame)
            if not self._exists(db, f"{asset}__versions"):
                db.execute(
                    f"create table {_data(asset)} as select *, ''::varchar as {_PARTITION}, "
                    f"''::varchar as {_VERSION} from incoming limit 0"
                )
            else:
                self._add_missing_columns(db, asset, frame)
            keep = self._published_version(db, asset, partition)
            db.execute(
                f"delete from {_data(asset)} where {_PARTITION} = ? and {_VERSION} is distinct from ?",
                [partition, keep],
            )
            db.execute(
                f"delete from {SCHEMA}._versions "
                "where asset = ? and partition = ? and version is distinct from ?",
                [asset, partition, keep],
            )
            db.execute(
                f"insert into {_data(asset)} by name "
                f"select *, ? as {_PARTITION}, ? as {_VERSION} from incoming",
                [partition, version],
            )
            db.execute(
                f"insert into {SCHEMA}._versions values (?, ?, ?, ?, ?)",
                [asset, partition, version, _now(), len(frame)],
            )
            db.execute(f'create or replace view {SCHEMA}."{asset}" as {_published_sql(asset)}')
            if publish:
                self._publish(db, asset, partition, version)
            db.unregister("incoming")

    def staged(self, asset: str, partition: str = UNPARTITIONED) -> Staged:
        """The latest version written for ``partition``, whether or not it is published."""
        staged = self.staged_query(asset, partition)
        with self._connect(read_only=True) as db:
            frame = db.execute(staged.query).df()
        return Staged(asset, partition, staged.version, frame)

    def staged_query(self, asset: str, partition: str = UNPARTITIONED) -> StagedQuery:
        """The latest version written for ``partition`` as a query on a :meth:`reader` connection."""
        with self._connect(read_only=True) as db:
            version = self._latest_version(db, asset, partition)
        if version is None:
            raise NotPublished(f"{_name(asset, partition)} has never been written.")
        query = (
            f"select * exclude ({_PARTITION}, {_VERSION}) from {_data(asset)} "
            f"where {_PARTITION} = {_literal(partition)} and {_VERSION} = {_literal(version)}"
        )
        return StagedQuery(asset, partition, version, query)

    def reader(self):
        """A read-only DuckDB connection, waiting while a writer holds the file; the caller closes it."""
        return self._open(read_only=True)

    def audit(self, staged: Staged | StagedQuery, *, checked_by: str, passed: bool, description: str) -> None:
        """Record what the check said of a staged version: a pass publishes it.

        A failure of the version that is published already (a check run again, say against a new
        holdout) withdraws it, so that nothing reads it from then on.
        """
        with self._transaction() as db:
            db.execute(
                f"insert into {SCHEMA}._audits values (?, ?, ?, ?, ?, ?, ?)",
                [staged.asset, staged.partition, staged.version, checked_by, passed, description, _now()],
            )
            if passed:
                self._publish(db, staged.asset, staged.partition, staged.version)
            elif self._published_version(db, staged.asset, staged.partition) == staged.version:
                db.execute(
                    f"delete from {SCHEMA}._publications where asset = ? and partition = ?",
                    [staged.asset, staged.partition],
                )

    def _publish(self, db, asset: str, partition: str, version: str) -> None:
        previous = self._published_version(db, asset, partition)
        db.execute(
            f"insert or replace into {SCHEMA}._publications values (?, ?, ?, ?)",
            [asset, partition, version, _now()],
        )
        if previous is not None and previous != version:  # superseded: nothing reads it any more
            db.execute(
                f"delete from {_data(asset)} where {_PARTITION} = ? and {_VERSION} = ?", [partition, previous]
            )
            db.execute(
                f"delete from {SCHEMA}._versions where asset = ? and partition = ? and version = ?",
                [asset, partition, previous],
            )

    # -- reading ---------------------------------------------------------------------------------

    def published(self, asset: str, partitions: Sequence[str] | None = None) -> pd.DataFrame:
        """The published rows of ``partitions`` (default: all); unpublished partitions are left out.

        A single partition asked for by name must be published: its reader depends on exactly it.
        """
        with self._connect(read_only=True) as db:
            if not self._exists(db, f"{asset}__versions"):
                raise NotPublished(f"{asset} has not been materialized yet.")
            query, parameters = _published_sql(asset), []
            if partitions is not None:
                query += f" where d.{_PARTITION} in (select unnest(?))"
                parameters.append(list(partitions))
            frame = db.execute(query, parameters).df()
            if partitions is not None and len(partitions) == 1 and frame.empty:
                published = self._published_version(db, asset, partitions[0])
                if published is None:
                    raise NotPublished(self._why_unpublished(db, asset, partitions[0]))
        return frame

    def published_version(self, asset: str, partition: str = UNPARTITIONED) -> str | None:
        """The version of one partition that readers get, if any."""
        with self._connect(read_only=True) as db:
            return (
                self._published_version(db, asset, partition) if self._exists(db, "_publications") else None
            )

    def publications(self, asset: str) -> pd.DataFrame:
        """One row per published partition: version, when it was published, and its row count."""
        with self._connect(read_only=True) as db:
            if not self._exists(db, "_publications"):
                return pd.DataFrame(columns=["partition", "version", "published_at", "rows"])
            return db.execute(
                f"select p.partition, p.version, p.published_at, v.rows from {SCHEMA}._publications p "
                f"left join {SCHEMA}._versions v using (asset, partition, version) "
                "where p.asset = ? order by p.published_at",
                [asset],
            ).df()

    def exclusions(self, asset: str, partitions: Sequence[str]) -> dict[str, str]:
        """Why each of ``partitions`` is not read as its latest write: never passed, or superseded."""
        reasons = {}
        with self._connect(read_only=True) as db:
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
        audit = db.execute(
            f"select checked_by, description from {SCHEMA}._audits where asset = ? and partition = ? "
            "and version = ? and not passed order by audited_at desc limit 1",
            [asset, partition, version],
        ).fetchone()
        if audit is None:
            return "not audited yet"
        return f"failed {audit[0]}: {audit[1][:300]}"

    @staticmethod
    def _latest_version(db, asset: str, partition: str) -> str | None:
        row = db.execute(
            f"select version from {SCHEMA}._versions where asset = ? and partition = ? "
            "order by written_at desc limit 1",
            [asset, partition],
        ).fetchone()
        return row[0] if row else None

    @staticmethod
    def _published_version(db, asset: str, partition: str) -> str | None:
        row = db.execute(
            f"select version from {SCHEMA}._publications where asset = ? and partition = ?",
            [asset, partition],
        ).fetchone()
        return row[0] if row else None

    @staticmethod
    def _exists(db, table: str) -> bool:
        return (
            db.execute(
                "select count(*) from information_schema.tables where table_schema = ? and table_name = ?",
                [SCHEMA, table],
            ).fetchone()[0]
            > 0
        )

    @staticmethod
    def _add_missing_columns(db, asset: str, frame: pd.DataFrame) -> None:
        existing = {row[0] for row in db.execute(f"describe {_data(asset)}").fetchall()}
        for name in frame.columns:
            if name not in existing:
                kind = db.execute(f'select typeof("{name}") from incoming limit 1').fetchone()
                db.execute(f'alter table {_data(asset)} add column "{name}" {kind[0] if kind else "varchar"}')


def _literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _name(asset: str, partition: str) -> str:
    return f"{asset} [{partition}]" if partition else asset
