"""The instance's run launcher: Dagster's default one, plus a health check that sees a dead run.

Dagster's run monitoring (a thread of the daemon) asks the run launcher whether the worker of each
started run is alive, and fails the run when it is not. ``DefaultRunLauncher`` cannot answer, so a
run whose process was killed (``kill -9``, the OOM killer, a reboot) stayed STARTED for ever and,
with the queue's ``max_concurrent_runs: 1``, kept every queued run waiting. This launcher answers
from the process id that Dagster's executor records when a run starts executing, which also covers
runs started by ``dagster job execute``: no launcher started those, but monitoring checks every
run of the instance.

A process id only means something on the machine that ran the process, so this launcher belongs to
an instance whose runs all execute on the daemon's machine: the SQLite instance of ``dagster.yaml``.
``dagster.yaml`` names it; it is imported by every process that opens the instance, so it stays
light (no import of the platform's heavy modules).
"""

from __future__ import annotations

import dagster as dg
import psutil
from dagster._core.launcher import CheckRunHealthResult, WorkerStatus

# The executor's first engine event with a pid names the process that orchestrates the run (the
# in-process executor, or the multiprocess executor's parent); later ones may be step processes.
PID_KEY = "pid"
# A process's start time is derived from the boot time, which Linux gives in whole seconds: a live
# worker may seem to start up to a second after it recorded itself.
CLOCK_SLACK_SECONDS = 2.0


def run_worker(instance: dg.DagsterInstance, run_id: str) -> tuple[int, float] | None:
    """The process id of the run's worker and when Dagster recorded it, or None before it did."""
    for entry in instance.all_logs(run_id, of_type=dg.DagsterEventType.ENGINE_EVENT):
        metadata = entry.dagster_event.engine_event_data.metadata
        if PID_KEY in metadata:
            return int(metadata[PID_KEY].value), entry.timestamp
    return None


def process_alive(pid: int, recorded_at: float) -> bool:
    """Whether ``pid`` still names the process recorded at ``recorded_at``.

    A process created after the record is another one that reuses the id (ids are recycled, after
    a reboot quickly); a zombie has exited and only waits for its parent to collect it.
    """
    try:
        process = psutil.Process(pid)
        started_before = process.create_time() <= recorded_at + CLOCK_SLACK_SECONDS
        return started_before and process.status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


class LocalRunLauncher(dg.DefaultRunLauncher):
    """``DefaultRunLauncher`` that run monitoring can ask whether a run's process is still alive."""

    @property
    def supports_check_run_worker_health(self) -> bool:
        return True

    def check_run_worker_health(self, run: dg.DagsterRun) -> CheckRunHealthResult:
        worker = run_worker(self._instance, run.run_id)
        if worker is None:  # started a moment ago; a run that hangs here ends at its max runtime
            return CheckRunHealthResult(WorkerStatus.RUNNING, "no run worker process recorded yet")
        pid, recorded_at = worker
        if process_alive(pid, recorded_at):
            return CheckRunHealthResult(WorkerStatus.RUNNING, f"process {pid} is running")
        return CheckRunHealthResult(
            WorkerStatus.NOT_FOUND,
            f"process {pid}, which executed this run, is gone (killed or crashed without reporting)",
        )
