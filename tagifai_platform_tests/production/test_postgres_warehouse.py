"""The warehouse on PostgreSQL: the write-audit-publish rules of the DuckDB file; runs that write at once."""

import contextlib
import multiprocessing
import subprocess
import uuid

import dagster as dg
import pandas as pd
import pytest

from tagifai_platform.data.batches import SOURCE_BATCH
from tagifai_platform.shared import batches as shared_batches
from tagifai_platform.warehouse import NotPublished, Warehouse
from tagifai_platform_tests.dataops.test_bad_batches import good_batch, write_batch
from tagifai_platform_tests.e2e.conftest import BIN, run
from tagifai_platform_tests.production.test_postgres_instance import PG_VARIABLES, postgres_instance_env


@pytest.fixture(params=["duckdb", "postgres"])
def location(request, tmp_path) -> str:
    """A fresh, empty warehouse: a DuckDB file, or a database of its own on the session's server."""
    if request.param == "duckdb":
        return str(tmp_path / "warehouse.duckdb")
    return request.getfixturevalue("postgres").create_database(f"warehouse_{uuid.uuid4().hex[:12]}")


def projects(ids: range, **extra) -> pd.DataFrame:
    """Rows of every type the platform stores; tz-aware times are kept as naive UTC."""
    ids = list(ids)
    written = pd.DataFrame(
        {
            "id": ids,
            "created_on": pd.date_range("2024-01-01 12:00", periods=len(ids), freq="h", tz="Europe/Paris"),
            "title": [f"project {i}" for i in ids],
            "score": [i / 7 for i in ids],
            "tagged": [i % 2 == 0 for i in ids],
            **extra,
        }
    )
    return written


def as_read(frame: pd.DataFrame) -> pd.DataFrame:
    return frame.assign(created_on=frame["created_on"].dt.tz_convert("UTC").dt.tz_localize(None))


def test_a_version_is_read_only_once_its_audit_passed(location):
    warehouse = Warehouse(location)
    with pytest.raises(NotPublished, match="run the dataops job first"):
        warehouse.published("projects")
    first = projects(range(5))
    warehouse.write("projects", first, version="run1", partition="b1", publish=False)
    with pytest.raises(NotPublished, match=r"\(run run1: not audited yet\)"):
        warehouse.published("projects", ["b1"])

    staged = warehouse.staged("projects", "b1")
    assert staged.version == "run1"
    pd.testing.assert_frame_equal(staged.frame, as_read(first))
    warehouse.audit(staged, checked_by="suite", passed=True, description="5 rows, all valid")
    pd.testing.assert_frame_equal(warehouse.published("projects"), as_read(first))

    warehouse.write("projects", projects(range(5, 8)), version="run2", partition="b1", publish=False)
    warehouse.audit(warehouse.staged("projects", "b1"), checked_by="suite", passed=False, description="bad")
    pd.testing.assert_frame_equal(warehouse.published("projects", ["b1"]), as_read(first))
    assert warehouse.published_version("projects", "b1") == "run1"
    assert warehouse.exclusions("projects", ["b1", "b2"]) == {
        "b1": "its latest version (run2) is not published (failed suite: bad); "
        "the version of run run1 is read instead",
        "b2": "never ingested",
    }


def test_a_new_version_supersedes_the_published_one_and_new_columns_are_added(location):
    warehouse = Warehouse(location)
    warehouse.write("projects", projects(range(3)), version="run1", partition="b1", publish=True)
    warehouse.write(
        "projects", projects(range(3, 5), stars=[4, 5]), version="run2", partition="b2", publish=True
    )
    warehouse.write("projects", projects(range(10, 12)), version="run3", partition="b1", publish=True)

    publications = warehouse.publications("projects")
    assert publications[["partition", "version", "rows"]].values.tolist() == [
        ["b2", "run2", 2],
        ["b1", "run3", 2],
    ]
    published = warehouse.published("projects").sort_values("id").reset_index(drop=True)
    assert published["id"].tolist() == [3, 4, 10, 11], "run1's rows went when run3 superseded them"
    assert published["stars"].isna().tolist() == [False, False, True, True]
    assert warehouse.staged("projects", "b2").frame["id"].tolist() == [3, 4]
    # The suites' DuckDB SQL reads the same version, from a scratch copy on PostgreSQL.
    staged = warehouse.staged_query("projects", "b2")
    with contextlib.closing(warehouse.reader()) as db:
        assert sorted(db.execute(staged.query).df()["id"]) == [3, 4]


def test_arrow_tables_are_written_and_read_as_the_pandas_frames_are(location):
    """The DataOps tables pass through as Arrow; zoned times are kept as naive UTC all the same."""
    import pyarrow as pa

    warehouse = Warehouse(location)
    written = projects(range(4))
    warehouse.write("projects", pa.Table.from_pandas(written), version="run1", partition="b1", publish=True)
    table = warehouse.published_table("projects", ["b1"])
    assert isinstance(table, pa.Table)
    read = table.to_pandas().sort_values("id").reset_index(drop=True)
    expected = as_read(written)
    assert read["created_on"].astype("datetime64[ns]").tolist() == expected["created_on"].tolist()
    pd.testing.assert_frame_equal(read.drop(columns="created_on"), expected.drop(columns="created_on"))
    with pytest.raises(NotPublished, match="has never been written"):
        warehouse.published_table("projects", ["b2"])


def test_a_published_version_that_fails_a_later_audit_is_withdrawn(location):
    warehouse = Warehouse(location)
    warehouse.write("holdout", projects(range(4)), version="run1", publish=True)
    assert warehouse.published_version("holdout") == "run1"
    warehouse.audit(warehouse.staged("holdout"), checked_by="suite", passed=False, description="new holdout")
    assert warehouse.published_version("holdout") is None
    with pytest.raises(NotPublished, match=r"\(run run1: failed suite: new holdout\)"):
        warehouse.published("holdout", [""])
    assert warehouse.publications("holdout").empty


ROUNDS, ROWS = 12, 300


def batch_round(batch: int, round_: int) -> pd.DataFrame:
    """What run ``batch`` writes in ``round_``: ids of its own, and from round 6 a column the table lacks."""
    start = (batch * ROUNDS + round_) * ROWS
    return projects(range(start, start + ROWS), **({"stars": round_} if round_ >= 6 else {}))


def ingest(location: str, batch: int, start) -> None:
    """A run's writes and audits of its own batch, as fast as it can, every third audit failing."""
    warehouse = Warehouse(location)
    start.wait()
    for round_ in range(ROUNDS):
        version = f"batch{batch}-round{round_}"
        warehouse.write(
            "labeled", batch_round(batch, round_), version=version, partition=str(batch), publish=False
        )
        staged = warehouse.staged("labeled", str(batch))
        assert staged.version == version and len(staged.frame) == ROWS
        warehouse.audit(staged, checked_by="suite", passed=round_ % 3 != 2, description=f"round {round_}")


def test_two_processes_writing_different_batches_at_once_lose_and_corrupt_nothing(postgres):
    location = postgres.create_database(f"warehouse_{uuid.uuid4().hex[:12]}")
    # Another table is there already (as after a first run), so both runs create `labeled` at once.
    Warehouse(location).write("holdout", projects(range(3)), version="earlier", publish=True)
    spawn = multiprocessing.get_context("spawn")
    start = spawn.Barrier(2)
    writers = [spawn.Process(target=ingest, args=(location, batch, start)) for batch in (0, 1)]
    for writer in writers:
        writer.start()
    for writer in writers:
        writer.join(timeout=600)
    assert [writer.exitcode for writer in writers] == [0, 0]

    warehouse = Warehouse(location)
    last_passed, last = ROUNDS - 2, ROUNDS - 1  # the last round failed its audit
    for batch in (0, 1):
        expected = as_read(batch_round(batch, last_passed))
        pd.testing.assert_frame_equal(
            warehouse.published("labeled", [str(batch)]).sort_values("id").reset_index(drop=True), expected
        )
        pd.testing.assert_frame_equal(
            warehouse.staged("labeled", str(batch)).frame.sort_values("id").reset_index(drop=True),
            as_read(batch_round(batch, last)),
        )
        assert warehouse.exclusions("labeled", [str(batch)]) == {
            str(batch): f"its latest version (batch{batch}-round{last}) is not published (failed suite: "
            f"round {last}); the version of run batch{batch}-round{last_passed} is read instead"
        }
    assert len(warehouse.published("labeled")) == 2 * ROWS
    assert sorted(warehouse.publications("labeled")["rows"]) == [ROWS, ROWS]


DAGSTER_JOB = ["dagster", "job", "execute", "-m", "tagifai_platform.definitions", "-j"]


@pytest.mark.slow  # three `dagster job execute` runs
def test_two_runs_ingest_their_batches_at_once_into_a_postgres_warehouse(
    tmp_path, dataset_dir, postgres, monkeypatch
):
    location = postgres.create_database(f"warehouse_{uuid.uuid4().hex[:12]}")
    home = tmp_path / "home"
    env = postgres_instance_env(
        home, dataset_dir, postgres, f"dagster_{uuid.uuid4().hex[:12]}", TAGIFAI_WAREHOUSE=location
    )
    dataops = run([*DAGSTER_JOB, "dataops"], env, cwd=tmp_path)
    assert dataops.returncode == 0, dataops.stderr[-3000:]

    projects_, tags = good_batch(dataset_dir, rows=40)
    batches = {"week1": slice(0, 25), "week2": slice(25, 40)}
    for key, rows in batches.items():
        write_batch(home / "landing", projects_[rows], tags[rows], key=key)
    for name in PG_VARIABLES:
        monkeypatch.setenv(name, env[name])
    with dg.DagsterInstance.from_config(env["DAGSTER_HOME"]) as instance:
        instance.add_dynamic_partitions(shared_batches.name, list(batches))
    runs = [
        subprocess.Popen(
            [
                str(BIN / "dagster"),
                *DAGSTER_JOB[1:],
                "ingest_batch",
                "--tags",
                f'{{"dagster/partition": "{key}"}}',
            ],
            env=env,
            cwd=tmp_path,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for key in batches
    ]
    for process in runs:
        _, stderr = process.communicate(timeout=900)
        assert process.returncode == 0, stderr[-3000:]

    warehouse = Warehouse(location)
    labeled = warehouse.published("labeled_projects")
    for key, rows in batches.items():
        assert sorted(labeled.loc[labeled["batch"] == key, "id"]) == sorted(projects_[rows]["id"].astype(int))
    assert set(warehouse.publications("labeled_projects")["partition"]) == {*batches, SOURCE_BATCH}
    assert len(labeled) == len(warehouse.published("labeled_projects", [SOURCE_BATCH])) + 40
    with dg.DagsterInstance.from_config(env["DAGSTER_HOME"]) as instance:
        records = instance.get_run_records(dg.RunsFilter(job_name="ingest_batch"))
    assert [record.dagster_run.status for record in records] == [dg.DagsterRunStatus.SUCCESS] * 2
    assert max(record.start_time for record in records) < min(record.end_time for record in records), (
        "the two runs overlapped"
    )
