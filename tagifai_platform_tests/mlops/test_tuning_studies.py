"""The persisted study after a crash: a trial whose process died is failed on resume, a live one is not."""

import sqlite3
import subprocess
import sys
import time

from optuna.trial import TrialState

from tagifai_platform.mlops.resources import TuningStudies
from tagifai_platform_tests.e2e.conftest import PROJECT_ROOT

# Short beats, so the test waits seconds for a trial to go stale; the defaults only scale them up.
# The grace leaves a loaded machine room to record the live process's beats on time.
BEATS = {"heartbeat_seconds": 1, "grace_seconds": 5}

# A process tuning the study with a trial that never ends: a killed one, or one still running.
TUNING_FOR_EVER = f"""
import sys, time
from tagifai_platform.mlops.resources import TuningStudies
study = TuningStudies(storage=sys.argv[1], **{BEATS!r}).study("tagifai")
study.optimize(lambda trial: time.sleep(600), n_trials=1)
"""


def start_tuning(storage: str, database, beating: int) -> subprocess.Popen:
    """A process whose trial is under way: the study then holds ``beating`` trials with a heartbeat."""
    process = subprocess.Popen([sys.executable, "-c", TUNING_FOR_EVER, storage], cwd=PROJECT_ROOT)
    deadline = time.monotonic() + 120
    while True:
        with sqlite3.connect(database) as connection:  # Optuna's own table of the beats processes record
            if connection.execute("select count(*) from trial_heartbeats").fetchone()[0] == beating:
                return process
        assert time.monotonic() < deadline and process.poll() is None, "the trial never started"
        time.sleep(0.2)


def test_a_trial_left_running_by_a_killed_process_fails_when_the_study_resumes(tmp_path):
    database = tmp_path / "optuna.db"
    storage = f"sqlite:///{database}"
    studies = TuningStudies(storage=storage, **BEATS)
    studies.study("tagifai")
    killed = start_tuning(storage, database, beating=1)  # trial 0
    alive = start_tuning(storage, database, beating=2)  # trial 1, tuning the same study at the same time
    try:
        killed.kill()
        killed.wait()
        time.sleep(BEATS["grace_seconds"] + 1)  # the killed trial's last beat is now older than the grace

        study = studies.study("tagifai")
        study.optimize(lambda trial: 1.0, n_trials=1)

        states = [trial.state for trial in study.trials]
        assert states == [TrialState.FAIL, TrialState.RUNNING, TrialState.COMPLETE], "the live one beats on"
    finally:
        for process in (killed, alive):
            process.kill()
            process.wait()
