"""Running a Great Expectations suite, on a pandas frame or in the DuckDB warehouse, and summarising
what failed.

The summary is plain data so that callers (asset checks, the CLI, tests) can show which
expectations failed, on how many rows, with a sample of the offending values.
"""

from __future__ import annotations

import functools
import gc
from collections.abc import Callable
from dataclasses import dataclass, field

import pandas as pd

SAMPLE_SIZE = 5


@dataclass(frozen=True)
class FailedExpectation:
    expectation: str
    target: str
    unexpected_count: int | None
    sample: list
    error: str | None = None

    def describe(self) -> str:
        count = "" if self.unexpected_count is None else f" ({self.unexpected_count} rows)"
        detail = self.error or f"sample: {self.sample}"
        return f"{self.expectation} on {self.target}{count}; {detail}"


@dataclass(frozen=True)
class ValidationSummary:
    suite: str
    rows: int
    evaluated: int
    failures: list[FailedExpectation] = field(default_factory=list)

    @property
    def success(self) -> bool:
        return not self.failures

    def describe(self) -> str:
        if self.success:
            return f"{self.suite}: all {self.evaluated} expectations met on {self.rows} rows."
        lines = "; ".join(failure.describe() for failure in self.failures)
        return f"{self.suite}: {len(self.failures)} of {self.evaluated} expectations failed: {lines}"


def ephemeral_context():
    """A throw-away GX context: nothing is written to disk and nothing is reported home."""
    import great_expectations as gx
    from great_expectations.data_context.types.base import ProgressBarsConfig
    from great_expectations.execution_engine import pandas_execution_engine

    # GX fingerprints each pandas batch below this many bytes by hashing every cell, for batch metadata
    # that nothing here reads; object columns count 8 bytes a cell, so a million projects were hashed
    # twice per suite, four fifths of its time. No frame is fingerprinted.
    pandas_execution_engine.HASH_THRESHOLD = 0

    context = gx.get_context(mode="ephemeral")
    context.variables.progress_bars = ProgressBarsConfig(globally=False)
    _spare_the_collector()
    return context


@functools.cache
def _spare_the_collector() -> None:
    """Move what the process has built so far (GX's and Dagster's modules, about 280,000 objects
    that live as long as it does) out of the garbage collector's sight, once per process.

    Every full collection walked them, and so did the one the interpreter makes on exit: 1.4 s after
    GX alone, up to 3 s in a Dagster run, and about 3 s of CPU of a dataops run at any size. Garbage
    already waiting is collected first, so nothing that should be freed is frozen with them.
    """
    gc.collect()
    gc.freeze()


def _target(expectation: str, kwargs: dict) -> str:
    if expectation.startswith("expect_table"):
        return "the table"
    if "column" in kwargs:
        return f"column {kwargs['column']}"
    if "column_A" in kwargs:
        return f"columns {kwargs['column_A']} and {kwargs['column_B']}"
    if "column_list" in kwargs:
        return f"columns {kwargs['column_list']}"
    return "the table"


def _failure(result) -> FailedExpectation:
    config = result.expectation_config
    details = result.result or {}
    raised = result.exception_info.get("raised_exception") if result.exception_info else False
    if raised:
        return FailedExpectation(
            config.type,
            _target(config.type, config.kwargs),
            None,
            [],
            error=str(result.exception_info.get("exception_message")),
        )
    sample = details.get("partial_unexpected_list")
    if sample is None:
        sample = [f"observed {details.get('observed_value')}, expected {config.kwargs.get('column_list')}"]
    return FailedExpectation(
        config.type,
        _target(config.type, config.kwargs),
        details.get("unexpected_count"),
        [str(value)[:120] for value in sample[:SAMPLE_SIZE]],
    )


def _summarize(batch, suite, rows: int) -> ValidationSummary:
    """Validate for a verdict first, then once more for what failed.

    BOOLEAN_ONLY computes what decides each expectation and no more; BASIC adds the count and a
    sample of the offending rows, queries that scan the whole table even for an expectation that
    is met (a third of a suite's time at a million projects). Only a failure needs them.
    """
    import great_expectations as gx

    verdict = batch.validate(suite, result_format={"result_format": "BOOLEAN_ONLY"})
    failed = [item.expectation_config for item in verdict.results if not item.success]
    failures = []
    if failed:
        detail = batch.validate(
            gx.ExpectationSuite(name=suite.name, expectations=[config.to_domain_obj() for config in failed]),
            result_format={"result_format": "BASIC", "partial_unexpected_count": SAMPLE_SIZE},
        )
        failures = [_failure(item) for item in detail.results if not item.success]
    return ValidationSummary(suite.name, rows, len(verdict.results), failures)


def validate_frame(context, frame: pd.DataFrame, suite) -> ValidationSummary:
    """Validate ``frame`` as one whole-dataframe batch of a pandas data source."""
    source = context.data_sources.add_or_update_pandas("frames")
    asset = source.add_dataframe_asset(name=f"{suite.name}_{len(source.assets)}")
    batch = asset.add_batch_definition_whole_dataframe("whole").get_batch(
        batch_parameters={"dataframe": frame}
    )
    return _summarize(batch, suite, len(frame))


def _duckdb_creator(connect: Callable[[], object], opened: list) -> Callable[[], object]:
    """DB-API connections for GX's SQLAlchemy engine on DuckDB, each query on a cursor of its own.

    GX runs a metric's query inside ``with engine.connect()`` and fetches its rows after the block
    has closed the connection, which rolls its transaction back. DuckDB streams results from its
    connection, and duckdb-engine runs every SQLAlchemy cursor on that one connection, so the
    rollback discarded the rows and every metric failed with "list index out of range" (GX 1.24,
    duckdb-engine 0.17). A DuckDB cursor is a connection of its own that the rollback leaves alone.
    Times without an offset are read as UTC on each cursor, as the pandas checks read them. Every
    DuckDB connection made is added to ``opened``, for the caller to close.
    """
    from duckdb_engine import ConnectionWrapper, CursorWrapper

    def creator() -> ConnectionWrapper:
        connection = connect()
        opened.append(connection)
        wrapper = ConnectionWrapper(connection)

        def cursor() -> CursorWrapper:
            own = connection.cursor()
            opened.append(own)
            own.execute("set TimeZone = 'UTC'")
            return CursorWrapper(own, wrapper)

        wrapper.cursor = cursor
        return wrapper

    return creator


def validate_query(context, connect: Callable[[], object], query: str, suite) -> ValidationSummary:
    """Validate the rows of ``query`` in DuckDB, where they are: GX sends each metric as SQL and
    reads back counts and a sample, so a million rows are never copied into Python.

    ``connect`` opens a DuckDB connection to the database ``query`` reads; every connection is
    closed before this returns, so the caller may open the database for writing again.
    """
    import sqlalchemy as sa
    from sqlalchemy.dialects import postgresql

    opened: list = []
    source = context.data_sources.add_or_update_sql(
        "warehouse", connection_string="duckdb://", kwargs={"creator": _duckdb_creator(connect, opened)}
    )
    try:
        engine = source.get_execution_engine()
        # GX picks the SQL of regular expressions by dialect module and knows none for DuckDB, whose
        # SQLAlchemy dialect is PostgreSQL's; DuckDB's `~` is PostgreSQL's (a match anywhere in the text).
        engine.dialect_module = postgresql
        asset = source.add_query_asset(name=f"{suite.name}_{len(source.assets)}", query=query)
        batch = asset.add_batch_definition_whole_table("whole").get_batch()
        rows = engine.execute_query(sa.text(f"select count(*) from ({query})")).scalar()
        return _summarize(batch, suite, rows)
    finally:
        for connection in reversed(opened):
            connection.close()
