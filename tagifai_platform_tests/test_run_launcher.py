"""The instance's run launcher: what run monitoring asks it about a run's process; the config around it."""

import os
import shutil
import subprocess
import sys
import time

import dagster as dg
import psutil
import pytest
from dagster._core.launcher import WorkerStatus

from tagifai_platform.run_launcher import CLOCK_SLACK_SECONDS, LocalRunLauncher, process_alive, run_worker
from tagifai_platform_tests.e2e.conftest import PROJECT_ROOT

# A run executing in its own process, as `dagster job execute` runs one: the process the test kills.
RUN_IN_A_PROCESS = """
import sys
import dagster as dg
from tagifai_platform_tests.test_run_launcher import waits
with dg.DagsterInstance.from_config(sys.argv[1]) as instance:
    waits.execute_in_process(instance=instance)
"""


@dg.op
def wait_for_the_kill() -> None:
    time.sleep(600)


@dg.job
def waits():
    wait_for_the_kill()


@pytest.fixture
def instance(tmp_path):
    """An instance configured by the project's dagster.yaml, as `make` sets one up."""
    shutil.copy(PROJECT_ROOT / "dagster.yaml", tmp_path / "dagster.yaml")
    with dg.DagsterInstance.from_config(str(tmp_path)) as instance:
        yield instance


def health(instance, run_id: str):
    return instance.run_launcher.check_run_worker_health(instance.get_run_by_id(run_id))


def poll(condition, what: str, seconds: float = 60):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if found := condition():
            return found
        time.sleep(0.2)
    raise AssertionError(f"{what} within {seconds} s")


def test_the_instance_monitors_runs_and_retries_only_what_did_not_fail_in_a_step(instance):
    assert isinstance(instance.run_launcher, LocalRunLauncher)
    assert instance.run_monitoring_enabled and instance.run_monitoring_max_resume_run_attempts == 0
    assert instance.run_retries_enabled and instance.run_retries_max_retries >= 1
    assert not instance.run_retries_retry_on_asset_or_op_failure


def test_a_run_whose_process_was_killed_is_reported_gone(instance):
    worker = subprocess.Popen(
        [sys.executable, "-c", RUN_IN_A_PROCESS, instance.root_directory],
        cwd=PROJECT_ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        run = poll(lambda: next(iter(instance.get_runs()), None), "a run")
        poll(lambda: run_worker(instance, run.run_id), "the run's process recorded")
        assert run_worker(instance, run.run_id)[0] == worker.pid
        assert health(instance, run.run_id).status == WorkerStatus.RUNNING

        worker.kill()  # until the test collects it, the process is a zombie: dead all the same
        gone = poll(
            lambda: (found := health(instance, run.run_id)).status == WorkerStatus.NOT_FOUND and found,
            "the killed process reported gone",
        )
        assert f"process {worker.pid}" in gone.msg
        worker.wait()
        assert health(instance, run.run_id).status == WorkerStatus.NOT_FOUND
        assert instance.get_run_by_id(run.run_id).status == dg.DagsterRunStatus.STARTED, "monitoring decides"
    finally:
        worker.kill()
        worker.wait()


def test_a_run_that_has_not_recorded_its_process_yet_is_taken_as_running(instance):
    run = instance.create_run_for_job(job_def=waits)
    assert health(instance, run.run_id).status == WorkerStatus.RUNNING


def test_a_recycled_process_id_is_not_taken_for_the_run():
    created = psutil.Process().create_time()
    assert process_alive(os.getpid(), recorded_at=time.time())
    recorded_before = created - CLOCK_SLACK_SECONDS - 1
    assert not process_alive(os.getpid(), recorded_at=recorded_before), "the recorded one predates this one"
