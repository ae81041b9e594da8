"""Faults on shared infrastructure: the Celery worker process running the tuning step is killed."""

import json
import sqlite3
import subprocess
import sys

import dagster as dg
import psutil

from tagifai_platform import services
from tagifai_platform.registry import CHALLENGER, CHAMPION, ModelRegistry
from tagifai_platform.settings import load_settings
from tagifai_platform_tests.e2e.conftest import BIN, PROJECT_ROOT, run
from tagifai_platform_tests.production.test_celery_executor import END_TO_END, celery_env, start_workers

# Re-execution from failure, as the UI's button does: only the steps that did not succeed.
REEXECUTE_FROM_FAILURE = """
import sys
import dagster as dg
from dagster._core.definitions.reconstruct import ReconstructableRepository
repository = ReconstructableRepository.for_module("tagifai_platform.definitions", "defs")
job = repository.get_reconstructable_job("end_to_end")
with dg.DagsterInstance.get() as instance:
    options = dg.ReexecutionOptions.from_failure(sys.argv[1], instance)
    result = dg.execute_job(job, instance, reexecution_options=options)
    print(result.success)
"""


def trials_started(database) -> bool:
    if not database.exists():
        return False
    with sqlite3.connect(database) as connection:
        tables = {name for (name,) in connection.execute("select name from sqlite_master")}
        return "trials" in tables and connection.execute("select count(*) from trials").fetchone()[0] > 0


def test_celery_worker_killed_mid_tuning_fails_the_run_and_reexecution_completes(
    tmp_path, dataset_dir, redis, servers
):
    env = celery_env(tmp_path / "home", dataset_dir, redis, TAGIFAI_TUNING_TRIALS="4")
    [worker] = start_workers(servers, env, redis, count=1)
    settings = load_settings(env)
    with open(tmp_path / "run.log", "w") as log:
        job = subprocess.Popen(
            [str(BIN / END_TO_END[0]), *END_TO_END[1:]], env=env, cwd=tmp_path, stdout=log, stderr=log
        )
        try:
            services.wait_for(lambda: trials_started(settings.home / "optuna.db"), "tuning", job, timeout=900)
            # `dagster-celery worker start` runs `celery worker`, whose one pool process runs the step:
            # killed as the out-of-memory killer would.
            [celery] = psutil.Process(worker.pid).children()
            [pool_process] = celery.children()
            pool_process.kill()
            assert job.wait(timeout=900) != 0, "a step whose worker died cannot succeed"
        finally:
            job.kill()
            job.wait()
    assert "Worker exited prematurely" in (tmp_path / "run.log").read_text()
    registry = ModelRegistry(settings.mlflow_tracking_uri, settings.mlflow_artifacts)
    assert not registry.exists() or registry.by_alias(CHALLENGER) is None, "nothing was registered"

    with dg.DagsterInstance.from_config(env["DAGSTER_HOME"]) as instance:
        [failed] = instance.get_runs(dg.RunsFilter(job_name="end_to_end"))
    again = subprocess.run(
        [sys.executable, "-c", REEXECUTE_FROM_FAILURE, failed.run_id],
        env=env,
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert again.stdout.strip().endswith("True"), again.stderr[-3000:]

    versions = registry.client.search_model_versions("name='tagifai'")
    assert len(versions) == 1, "one version, registered once"
    assert registry.by_alias(CHAMPION).version == registry.by_alias(CHALLENGER).version == 1
    status = json.loads(run(["tagifai", "status"], env, cwd=tmp_path).stdout)
    assert status["champion"]["version"] == 1
