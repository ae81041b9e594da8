"""A run killed mid-step (kill -9) as a user would meet it: the next daemon frees everything it held.

The issue's reproduction: `dagster job execute -j end_to_end` is killed while Optuna tunes, a run is
queued behind it, then the daemon starts (`make dev`). Run monitoring must fail the dead run, the
queued run must proceed, and neither the Optuna trial nor the MLflow run may stay RUNNING.
"""

import contextlib
import sqlite3
import subprocess
import time

import dagster as dg
import mlflow

from tagifai_platform.ml.tuning import default_trial_params
from tagifai_platform.mlops.resources import TuningStudies
from tagifai_platform.registry import EXPERIMENT_NAME
from tagifai_platform_tests.e2e.conftest import BIN, PROJECT_ROOT, run, running_daemon, user_env

DEADLINE_SECONDS = 420
WORKSPACE = str(PROJECT_ROOT / "workspace.yaml")
END_TO_END = ["dagster", "job", "execute", "-m", "tagifai_platform.definitions", "-j", "end_to_end"]


def running_trial(database) -> int | None:
    """The number of a trial under way (a heartbeat recorded), read from Optuna's tables."""
    if not database.exists():
        return None
    with sqlite3.connect(database) as connection:
        found = connection.execute(
            "select number from trials join trial_heartbeats using (trial_id) where state = 'RUNNING'"
        ).fetchone()
    return found[0] if found else None


def optuna_trials(database) -> list[dict]:
    import optuna

    study = optuna.load_study(study_name="tagifai", storage=f"sqlite:///{database}")
    return [{"state": trial.state.name, "params": trial.params} for trial in study.trials]


def wait_for(condition, what: str, log, seconds: float = DEADLINE_SECONDS):
    deadline = time.monotonic() + seconds
    while not (found := condition()):
        assert time.monotonic() < deadline, f"{what} within {seconds} s:\n{log.read_text()[-3000:]}"
        time.sleep(1)
    return found


def test_a_killed_run_is_failed_and_what_it_held_is_freed(tmp_path, dataset_dir):
    home = tmp_path / "home"
    env = user_env(home, dataset_dir, TAGIFAI_TUNING_TRIALS="3")
    worker_log = tmp_path / "worker.log"
    with worker_log.open("wb") as output:
        worker = subprocess.Popen(
            [str(BIN / END_TO_END[0]), *END_TO_END[1:]],
            env={**env, "TAGIFAI_TUNING_TRIALS": "50"},
            cwd=tmp_path,
            stdout=output,
            stderr=subprocess.STDOUT,
        )
    with contextlib.ExitStack() as stack:
        stack.callback(worker.wait)
        stack.callback(worker.kill)
        wait_for(lambda: running_trial(home / "optuna.db") is not None, "a trial under way", worker_log)
        killed_trial = running_trial(home / "optuna.db")
        assert worker.poll() is None, worker_log.read_text()[-3000:]
        worker.kill()
        worker.wait()
        killed_at = time.monotonic()
        instance = stack.enter_context(dg.DagsterInstance.from_config(env["DAGSTER_HOME"]))
        [dead] = instance.get_runs()
        assert dead.status == dg.DagsterRunStatus.STARTED, "the reported problem: a run nobody executes"

        launched = run(["dagster", "job", "launch", "-w", WORKSPACE, "-j", "mlops"], env, cwd=PROJECT_ROOT)
        assert launched.returncode == 0, launched.stderr[-3000:]
        [queued] = instance.get_runs(dg.RunsFilter(job_name="mlops"))
        assert queued.status == dg.DagsterRunStatus.QUEUED

        # Optuna calls a trial stale once its last heartbeat is older than the grace period; a
        # daemon started sooner would resume the study before that, and leave it to a later trial.
        grace = TuningStudies.model_fields["grace_seconds"].default
        time.sleep(max(0.0, killed_at + grace - time.monotonic()))
        daemon_log = tmp_path / "daemon.log"
        stack.enter_context(running_daemon(env, tmp_path))
        daemon_started = time.monotonic()
        wait_for(lambda: instance.get_run_by_id(dead.run_id).is_finished, "the dead run failed", daemon_log)
        print(f"dead run failed {time.monotonic() - daemon_started:.1f} s after the daemon started")
        wait_for(lambda: instance.get_run_by_id(queued.run_id).is_finished, "the queued run done", daemon_log)
        print(f"queued run finished {time.monotonic() - daemon_started:.1f} s after the daemon started")

        client = mlflow.MlflowClient(tracking_uri=f"sqlite:///{home / 'mlflow' / 'mlflow.db'}")
        experiment_id = client.get_experiment_by_name(EXPERIMENT_NAME).experiment_id

        def mlflow_runs_of_the_dead_run():
            found = client.search_runs([experiment_id], f"tags.dagster_run_id = '{dead.run_id}'")
            return found if found and found[0].info.status != "RUNNING" else None

        [dead_mlflow_run] = wait_for(mlflow_runs_of_the_dead_run, "its MLflow run ended", daemon_log)
        print(f"its MLflow run ended {time.monotonic() - daemon_started:.1f} s after the daemon started")

        failure = instance.all_logs(dead.run_id, of_type=dg.DagsterEventType.RUN_FAILURE)[-1]
        assert instance.get_run_by_id(dead.run_id).status == dg.DagsterRunStatus.FAILURE
        assert f"process {worker.pid}" in failure.message
        assert instance.get_run_by_id(queued.run_id).status == dg.DagsterRunStatus.SUCCESS

        trials = optuna_trials(home / "optuna.db")
        assert trials[killed_trial]["state"] == "FAIL"
        assert "RUNNING" not in [trial["state"] for trial in trials]
        completed = [trial["params"] for trial in trials if trial["state"] == "COMPLETE"]
        assert default_trial_params() in completed, "the defaults are tried even when their trial was lost"

        assert dead_mlflow_run.info.status == "KILLED"
        assert not client.search_runs([experiment_id], "attributes.status = 'RUNNING'")
