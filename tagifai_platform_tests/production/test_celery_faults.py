"""Faults on shared infrastructure: the Redis broker stops during a Celery run."""

import subprocess
from urllib.parse import urlparse

import dagster as dg

from tagifai_platform import services
from tagifai_platform_tests.e2e.conftest import BIN, run
from tagifai_platform_tests.production.test_celery_executor import celery_env, start_workers

DATAOPS = ["dagster", "job", "execute", "-m", "tagifai_platform.definitions", "-j", "dataops"]


def test_celery_run_fails_clearly_when_redis_stops_and_the_next_run_succeeds(
    tmp_path, dataset_dir, redis, servers
):
    env = celery_env(tmp_path / "home", dataset_dir, redis)
    start_workers(servers, env, redis, count=1)
    worker_log = servers / "worker0.log"
    with open(tmp_path / "run.log", "w") as log:
        job = subprocess.Popen(
            [str(BIN / DATAOPS[0]), *DATAOPS[1:]], env=env, cwd=tmp_path, stdout=log, stderr=log
        )
        try:
            services.wait_for(lambda: " received" in worker_log.read_text(), "a step on the worker", job)
            services.stop_process(servers, "redis")
            assert job.wait(timeout=600) != 0, "the run cannot finish without its broker"
        finally:
            job.kill()
            job.wait()
    output = (tmp_path / "run.log").read_text()
    assert "Error 111" in output or "Connection refused" in output, output[-3000:]

    services.start_redis(servers, urlparse(redis).port)  # the broker is back, on the same address
    again = run(DATAOPS, env, cwd=tmp_path, timeout=900)
    assert again.returncode == 0, again.stderr[-3000:]

    with dg.DagsterInstance.from_config(env["DAGSTER_HOME"]) as instance:
        statuses = [run.status for run in reversed(instance.get_runs(dg.RunsFilter(job_name="dataops")))]
        assert statuses == [dg.DagsterRunStatus.FAILURE, dg.DagsterRunStatus.SUCCESS]
        assert instance.get_latest_materialization_event(dg.AssetKey("labeled_projects")) is not None
