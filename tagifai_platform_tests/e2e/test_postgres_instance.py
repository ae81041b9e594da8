"""The same code on shared infrastructure: the Dagster instance in PostgreSQL, as deploy/ documents."""

import shutil

import dagster as dg
import pytest

from tagifai_platform_tests.e2e.conftest import PROJECT_ROOT, run, user_env
from tagifai_platform_tests.e2e.postgres import postgres_server, server_binaries

pytestmark = pytest.mark.skipif(
    server_binaries() is None, reason="PostgreSQL server not installed (.ci/run installs it)"
)


def test_the_dataops_job_runs_on_a_postgres_instance(tmp_path, dataset_dir, monkeypatch):
    with postgres_server() as (host, port, user, database):
        env = user_env(
            tmp_path / "home",
            dataset_dir,
            DAGSTER_PG_HOST=host,
            DAGSTER_PG_PORT=str(port),
            DAGSTER_PG_USER=user,
            DAGSTER_PG_PASSWORD="unused-with-trust-auth",
            DAGSTER_PG_DB=database,
        )
        shutil.copy(
            PROJECT_ROOT / "deploy" / "dagster.postgres.yaml", tmp_path / "home" / "dagster" / "dagster.yaml"
        )

        result = run(
            ["dagster", "job", "execute", "-m", "tagifai_platform.definitions", "-j", "dataops"],
            env,
            cwd=tmp_path,
        )
        assert result.returncode == 0, result.stderr[-3000:]

        for name in (
            "DAGSTER_PG_HOST",
            "DAGSTER_PG_PORT",
            "DAGSTER_PG_USER",
            "DAGSTER_PG_PASSWORD",
            "DAGSTER_PG_DB",
        ):
            monkeypatch.setenv(name, env[name])
        with dg.DagsterInstance.from_config(env["DAGSTER_HOME"]) as instance:
            assert type(instance.run_storage).__name__ == "PostgresRunStorage"
            assert instance.run_monitoring_enabled and instance.run_retries_enabled
            assert not instance.run_retries_retry_on_asset_or_op_failure
            runs = instance.get_runs(dg.RunsFilter(job_name="dataops"))
            assert len(runs) == 1 and runs[0].status == dg.DagsterRunStatus.SUCCESS
            assert instance.get_latest_materialization_event(dg.AssetKey("labeled_projects")) is not None
