"""Faults on shared infrastructure: PostgreSQL, holding the Dagster instance and the warehouse, stops
during a run."""

import subprocess

import dagster as dg
import pandas as pd
import pytest

from tagifai_platform import services
from tagifai_platform.data.batches import SOURCE_BATCH
from tagifai_platform.warehouse import Warehouse
from tagifai_platform_tests.e2e.conftest import BIN, run
from tagifai_platform_tests.production.test_postgres_instance import PG_VARIABLES, postgres_instance_env
from tagifai_platform_tests.production.test_postgres_warehouse import DAGSTER_JOB

pytestmark = pytest.mark.slow  # three dataops runs on a server of the test's own

TABLES = ("raw_projects", "raw_tags", "labeled_projects", "holdout_projects")


def published(warehouse: Warehouse) -> dict[str, pd.DataFrame]:
    return {table: warehouse.published(table).sort_values("id").reset_index(drop=True) for table in TABLES}


def test_a_run_fails_clearly_when_postgres_stops_and_the_next_run_succeeds(
    tmp_path, dataset_dir, own_postgres, monkeypatch
):
    location = own_postgres.create_database("warehouse")
    env = postgres_instance_env(
        tmp_path / "home", dataset_dir, own_postgres, "dagster", TAGIFAI_WAREHOUSE=location
    )
    first = run([*DAGSTER_JOB, "dataops"], env, cwd=tmp_path)
    assert first.returncode == 0, first.stderr[-3000:]
    warehouse = Warehouse(location)
    before = published(warehouse)
    first_version = warehouse.published_version("raw_projects", SOURCE_BATCH)

    with open(tmp_path / "run.log", "w") as log:
        job = subprocess.Popen(
            [str(BIN / DAGSTER_JOB[0]), *DAGSTER_JOB[1:], "dataops"],
            env=env,
            cwd=tmp_path,
            stdout=log,
            stderr=log,
        )
        try:
            services.wait_for(
                lambda: warehouse.staged("raw_projects", SOURCE_BATCH).version != first_version,
                "the second run staging its batch",
                job,
            )
            own_postgres.stop()
            assert job.wait(timeout=600) != 0, "the run cannot finish without its database"
        finally:
            job.kill()
            job.wait()
    output = (tmp_path / "run.log").read_text()
    assert (
        f'connection to server at "127.0.0.1", port {own_postgres.port} failed: Connection refused' in output
    )
    assert output.rstrip().endswith("DagsterPostgresException: too many retries for DB connection"), output[
        -3000:
    ]

    own_postgres.start()  # back, on the same address and data
    for table, frame in published(warehouse).items():
        pd.testing.assert_frame_equal(frame, before[table], obj=f"{table}, read between the runs")
    again = run([*DAGSTER_JOB, "dataops"], env, cwd=tmp_path)
    assert again.returncode == 0, again.stderr[-3000:]
    for table, frame in published(warehouse).items():
        pd.testing.assert_frame_equal(frame, before[table], obj=f"{table}, read after the next run")

    for name in PG_VARIABLES:
        monkeypatch.setenv(name, env[name])
    with dg.DagsterInstance.from_config(env["DAGSTER_HOME"]) as instance:
        runs = list(reversed(instance.get_runs(dg.RunsFilter(job_name="dataops"))))
    # The interrupted run could not record its own end: it stays STARTED until run monitoring (the
    # daemon) fails it.
    assert [run.status for run in runs] == [
        dg.DagsterRunStatus.SUCCESS,
        dg.DagsterRunStatus.STARTED,
        dg.DagsterRunStatus.SUCCESS,
    ]
    assert warehouse.published_version("labeled_projects", SOURCE_BATCH) == runs[-1].run_id
