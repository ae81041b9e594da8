"""The same code on shared infrastructure: the Dagster instance in PostgreSQL, as deploy/ documents."""

import shutil

import dagster as dg

from tagifai_platform_tests.e2e.conftest import PROJECT_ROOT, run, user_env

PG_VARIABLES = (
    "DAGSTER_PG_HOST",
    "DAGSTER_PG_PORT",
    "DAGSTER_PG_USER",
    "DAGSTER_PG_PASSWORD",
    "DAGSTER_PG_DB",
)


def postgres_instance_env(home, dataset_dir, postgres, database: str, **settings: str) -> dict:
    """A user's environment whose Dagster instance is ``deploy/dagster.postgres.yaml`` on ``database``."""
    postgres.create_database(database)
    env = user_env(
        home,
        dataset_dir,
        DAGSTER_PG_HOST="127.0.0.1",
        DAGSTER_PG_PORT=str(postgres.port),
        DAGSTER_PG_USER=postgres.user,
        DAGSTER_PG_PASSWORD="unused-with-trust-auth",
        DAGSTER_PG_DB=database,
        **settings,
    )
    shutil.copy(PROJECT_ROOT / "deploy" / "dagster.postgres.yaml", home / "dagster" / "dagster.yaml")
    return env


def test_the_dataops_job_runs_on_a_postgres_instance(tmp_path, dataset_dir, postgres, monkeypatch):
    env = postgres_instance_env(tmp_path / "home", dataset_dir, postgres, "dagster_dataops")

    result = run(
        ["dagster", "job", "execute", "-m", "tagifai_platform.definitions", "-j", "dataops"],
        env,
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr[-3000:]

    for name in PG_VARIABLES:
        monkeypatch.setenv(name, env[name])
    with dg.DagsterInstance.from_config(env["DAGSTER_HOME"]) as instance:
        assert type(instance.run_storage).__name__ == "PostgresRunStorage"
        assert instance.run_monitoring_enabled and instance.run_retries_enabled
        assert not instance.run_retries_retry_on_asset_or_op_failure
        runs = instance.get_runs(dg.RunsFilter(job_name="dataops"))
        assert len(runs) == 1 and runs[0].status == dg.DagsterRunStatus.SUCCESS
        assert instance.get_latest_materialization_event(dg.AssetKey("labeled_projects")) is not None
