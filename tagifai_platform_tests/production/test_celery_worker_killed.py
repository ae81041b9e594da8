"""Faults on shared infrastructure: the Celery worker process running the tuning step is killed while
the prediction service serves the champion of an earlier run."""

import shutil
import sqlite3
import subprocess
import sys
import threading

import dagster as dg
import httpx
import psutil

from tagifai_platform import services
from tagifai_platform.harness import Service
from tagifai_platform.registry import CHALLENGER, CHAMPION, ModelRegistry
from tagifai_platform.settings import load_settings
from tagifai_platform_tests.e2e.conftest import BIN, PROJECT_ROOT
from tagifai_platform_tests.production.test_celery_executor import (
    END_TO_END,
    celery_env,
    champion,
    start_workers,
)

# Re-execution from failure, as the UI's button does: only the steps that did not succeed. Prints
# whether the run succeeded and the checks that failed.
REEXECUTE_FROM_FAILURE = """
import sys
import dagster as dg
from dagster._core.definitions.reconstruct import ReconstructableRepository
repository = ReconstructableRepository.for_module("tagifai_platform.definitions", "defs")
job = repository.get_reconstructable_job("end_to_end")
with dg.DagsterInstance.get() as instance:
    options = dg.ReexecutionOptions.from_failure(sys.argv[1], instance)
    result = dg.execute_job(job, instance, reexecution_options=options)
    failed = [check.check_name for check in result.get_asset_check_evaluations() if not check.passed]
    print(result.success, *failed)
"""


def trial_count(database) -> int:
    with sqlite3.connect(database) as connection:
        return connection.execute("select count(*) from trials").fetchone()[0]


class Client(threading.Thread):
    """A client asking the service for a tag twice a second; notes the model version of each answer
    (or what went wrong) under the phase of the test it came in."""

    def __init__(self, url: str):
        super().__init__(daemon=True)
        self.url, self.phase, self.answers, self.done = url, "training", [], threading.Event()

    def run(self) -> None:
        with httpx.Client(base_url=self.url, timeout=30) as client:
            while not self.done.is_set():
                try:
                    response = client.post("/predict", json={"texts": ["YOLO object detection in real time"]})
                    answer = response.json()["model_version"] if response.is_success else response.text
                except httpx.HTTPError as error:
                    answer = repr(error)
                self.answers.append((self.phase, answer))
                self.done.wait(0.5)

    def versions(self, phase: str) -> set:
        return {answer for when, answer in self.answers if when == phase}


def test_celery_worker_killed_mid_tuning_fails_the_run_and_the_champion_is_served_throughout(
    tmp_path, dataset_dir, redis, servers, trained_home
):
    # A home with champion 1 (the session's trained home, copied), on a Dagster instance of its own.
    shutil.copytree(trained_home[1] / "home", tmp_path / "home", ignore=shutil.ignore_patterns("dagster"))
    env = celery_env(tmp_path / "home", dataset_dir, redis, TAGIFAI_TUNING_TRIALS="4")
    settings = load_settings(env)
    assert champion(env, tmp_path)["version"] == 1
    trials_before = trial_count(settings.home / "optuna.db")
    [worker] = start_workers(servers, env, redis, count=1)
    service = Service.start(settings, tmp_path, TAGIFAI_SERVE_WORKERS="1")
    client = Client(service.url)
    client.start()
    try:
        with open(tmp_path / "run.log", "w") as log:
            job = subprocess.Popen(
                [str(BIN / END_TO_END[0]), *END_TO_END[1:]], env=env, cwd=tmp_path, stdout=log, stderr=log
            )
            try:
                services.wait_for(
                    lambda: trial_count(settings.home / "optuna.db") > trials_before,
                    "tuning",
                    job,
                    timeout=900,
                )
                # `dagster-celery worker start` runs `celery worker`, whose one pool process runs the
                # step: killed as the out-of-memory killer would.
                [celery] = psutil.Process(worker.pid).children()
                [pool_process] = celery.children()
                pool_process.kill()
                client.phase = "after the kill"
                assert job.wait(timeout=900) != 0, "a step whose worker died cannot succeed"
            finally:
                job.kill()
                job.wait()
        assert "Worker exited prematurely" in (tmp_path / "run.log").read_text()
        registry = ModelRegistry(settings.mlflow_tracking_uri, settings.mlflow_artifacts)
        assert len(registry.client.search_model_versions("name='tagifai'")) == 1, "nothing half-registered"
        assert registry.by_alias(CHAMPION).version == registry.by_alias(CHALLENGER).version == 1

        with dg.DagsterInstance.from_config(env["DAGSTER_HOME"]) as instance:
            [failed] = instance.get_runs(dg.RunsFilter(job_name="end_to_end"))
        client.phase = "re-execution"
        again = subprocess.run(
            [sys.executable, "-c", REEXECUTE_FROM_FAILURE, failed.run_id],
            env=env,
            cwd=PROJECT_ROOT,
            capture_output=True,
            text=True,
            timeout=900,
        )
        client.phase = "after"
        outcome = again.stdout.strip().splitlines()[-1] if again.stdout.strip() else again.stderr[-3000:]
        # The same data trains a model the gate may refuse (no data the champion lacks): either way
        # every step ran, and the new version is registered once.
        assert outcome in ("True", "False challenger_beats_champion"), outcome
        versions = registry.client.search_model_versions("name='tagifai'")
        assert sorted(int(version.version) for version in versions) == [1, 2], "one new version, once"
        assert registry.by_alias(CHALLENGER).version == 2
        served = registry.by_alias(CHAMPION).version
        assert served == (2 if outcome == "True" else 1)
        services.wait_for(lambda: client.answers[-1] == ("after", served), f"the service serving {served}")
    finally:
        client.done.set()
        client.join()
        service.stop()
    assert client.versions("training") == client.versions("after the kill") == {1}, client.answers
    assert client.versions("re-execution") | client.versions("after") <= {1, served}, client.answers
