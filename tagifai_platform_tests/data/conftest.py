"""Validation where the platform validates: frames stored as DuckDB tables, suites run on SQL."""

import itertools

import duckdb
import pytest

from tagifai_platform.data.validation import ephemeral_context, validate_query


@pytest.fixture(scope="module")
def gx_context():
    return ephemeral_context()


@pytest.fixture
def validate_in_duckdb(gx_context, tmp_path):
    """``validate(suite, query, **tables)``: each frame a table of a new DuckDB file, queried by ``query``."""
    files = itertools.count()

    def validate(suite, query: str, **tables):
        path = str(tmp_path / f"tables-{next(files)}.duckdb")
        with duckdb.connect(path) as db:
            for name, frame in tables.items():
                db.register("frame", frame)
                db.execute(f"create table {name} as select * from frame")
                db.unregister("frame")
        return validate_query(gx_context, lambda: duckdb.connect(path, read_only=True), query, suite)

    return validate
