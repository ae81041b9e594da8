"""End-to-end fixtures: the real commands a user runs, as subprocesses on a temporary home."""

import contextlib
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from benchmarks.dataops import user_env

PROJECT_ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
DAEMON_STOP_SECONDS = 120


@pytest.fixture
def home_env(tmp_path, dataset_dir):
    return user_env(tmp_path / "home", dataset_dir)


def run(command: list[str], env: dict, cwd: Path, timeout: int = 300) -> subprocess.CompletedProcess:
    executable = [str(BIN / command[0]), *command[1:]]
    return subprocess.run(executable, env=env, cwd=cwd, capture_output=True, text=True, timeout=timeout)


@contextlib.contextmanager
def running_daemon(env: dict, log: Path):
    """`dagster-daemon run` on the project's workspace, its output in `log`.

    On SIGTERM the daemon's code server lets the runs it launched finish before it exits, so a
    test stops the daemon only once its runs are over. One that still outlives its grace is
    killed with its code server, and the test fails with the log's tail.
    """
    with log.open("wb") as output:
        daemon = subprocess.Popen(
            [str(BIN / "dagster-daemon"), "run", "-w", str(PROJECT_ROOT / "workspace.yaml")],
            env=env,
            cwd=PROJECT_ROOT,
            stdout=output,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        yield daemon
    except BaseException:
        _stop(daemon)
        raise
    if not _stop(daemon):
        tail = log.read_text()[-3000:]
        raise AssertionError(f"the daemon outlived {DAEMON_STOP_SECONDS} s after SIGTERM:\n{tail}")


def _stop(daemon: subprocess.Popen) -> bool:
    """Whether the daemon stopped on SIGTERM; if not, it is killed with its code server."""
    daemon.terminate()
    try:
        daemon.wait(timeout=DAEMON_STOP_SECONDS)
        return True
    except subprocess.TimeoutExpired:
        os.killpg(daemon.pid, signal.SIGKILL)
        daemon.wait()
        return False
