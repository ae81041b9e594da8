"""The warehouse in a PostgreSQL database, which runs on several machines write at once.

The warehouse's rules are the same SQL as on DuckDB; what differs is here. Writers of one asset take
turns (a transaction-level advisory lock per asset: its table, columns and view change together),
while writers of different assets, and every reader, go at once; readers see only committed
publications. A frame becomes the temporary table ``incoming`` through pandas and SQLAlchemy, which
map its column types. psycopg2 is the driver (``dagster-postgres`` ships it), whatever the URL says.
The checks' suites are DuckDB SQL: a staged version to validate is copied into a scratch DuckDB file.
"""

from __future__ import annotations

import contextlib
import tempfile
from collections.abc import Iterator, Sequence
from pathlib import Path

import pandas as pd
import pyarrow as pa

from tagifai_platform.warehouse import SCHEMA, NotPublished

# Held while the bookkeeping tables are created, so that two first writers do not both create them.
_CREATING_TABLES = "_tables"
_scratch_dir: tempfile.TemporaryDirectory | None = None


def _pyformat(sql: str) -> str:
    """The warehouse writes DuckDB's ``?`` placeholders; psycopg2 takes ``%s``."""
    return sql.replace("?", "%s")


class PostgresConnection:
    """The statements the warehouse runs, on one SQLAlchemy connection to PostgreSQL."""

    def __init__(self, connection):
        self.connection = connection

    def rows(self, sql: str, parameters: Sequence = ()) -> list[tuple]:
        result = self.connection.exec_driver_sql(_pyformat(sql), tuple(parameters))
        return [tuple(row) for row in result] if result.returns_rows else []

    def frame(self, sql: str, parameters: Sequence = ()) -> pd.DataFrame:
        return pd.read_sql_query(_pyformat(sql), self.connection, params=tuple(parameters))

    def table(self, sql: str, parameters: Sequence = ()) -> pa.Table:
        return pa.Table.from_pandas(self.frame(sql, parameters), preserve_index=False)

    def lock(self, asset: str) -> None:
        """Wait for, then hold until commit, this asset's turn to write."""
        self.rows("select pg_advisory_xact_lock(hashtext(?))", [f"{SCHEMA}.{asset}"])

    def stage(self, frame: pd.DataFrame | pa.Table) -> None:
        if isinstance(frame, pa.Table):
            frame = frame.to_pandas()
        # pg_temp is this session's own schema: the table vanishes with the connection.
        frame.to_sql("incoming", self.connection, schema="pg_temp", index=False, if_exists="replace")

    def incoming_type(self, column: str) -> str:
        [(kind,)] = self.rows(
            "select format_type(atttypid, atttypmod) from pg_attribute "
            "where attrelid = 'pg_temp.incoming'::regclass and attname = ?",
            [column],
        )
        return kind


class PostgresWarehouse:
    def __init__(self, url: str):
        from sqlalchemy import create_engine
        from sqlalchemy.engine import make_url
        from sqlalchemy.pool import NullPool

        address = make_url(url)
        if address.drivername == "postgresql":  # SQLAlchemy 2 would pick psycopg 3, not installed
            address = address.set(drivername="postgresql+psycopg2")
        self.address = address
        # Each read or write is a connection of its own, closed after it: no pool outlives a step.
        self.engine = create_engine(address, poolclass=NullPool)

    def __str__(self) -> str:
        return self.address.render_as_string(hide_password=True)

    def in_duckdb(self, select: str, name: str, load) -> str:
        """Copy the rows ``load()`` gives into this process's scratch DuckDB file as table ``name``,
        and return the query that reads them there: the suites' SQL is DuckDB's."""
        import duckdb

        table = name.replace('"', '""')
        with contextlib.closing(duckdb.connect(str(self._scratch()))) as scratch:
            scratch.register("staged_rows", load())
            scratch.execute(f'create or replace table "{table}" as select * from staged_rows')
        return f'select * from "{table}"'

    def duckdb_reader(self):
        """A read-only connection to the scratch file :meth:`in_duckdb` fills; the caller closes it."""
        import duckdb

        return duckdb.connect(str(self._scratch()), read_only=True)

    @staticmethod
    def _scratch() -> Path:
        """One scratch file per process: the resource makes a new warehouse object for each call."""
        global _scratch_dir
        if _scratch_dir is None:
            _scratch_dir = tempfile.TemporaryDirectory(prefix="tagifai-validation-")  # removed at exit
        return Path(_scratch_dir.name) / "staged.duckdb"

    def _has_tables(self, connection) -> bool:
        return connection.exec_driver_sql(f"select to_regclass('{SCHEMA}._audits')").scalar() is not None

    @contextlib.contextmanager
    def reading(self) -> Iterator[PostgresConnection]:
        with self.engine.connect() as connection:
            if not self._has_tables(connection):
                raise NotPublished(f"The warehouse {self} has no tables yet: run the dataops job first.")
            yield PostgresConnection(connection)

    @contextlib.contextmanager
    def transaction(self, tables: Sequence[str]) -> Iterator[PostgresConnection]:
        """One transaction, committed when the block ends, after creating ``tables`` if missing."""
        with self.engine.begin() as connection:
            db = PostgresConnection(connection)
            if not self._has_tables(connection):
                db.lock(_CREATING_TABLES)
                for statement in tables:
                    connection.exec_driver_sql(statement)
            yield db
