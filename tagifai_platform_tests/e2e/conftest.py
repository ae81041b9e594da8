"""End-to-end fixtures: the real commands a user runs, as subprocesses on a temporary home."""

import contextlib
import subprocess
import sys
from pathlib import Path

import pytest

from benchmarks.dataops import user_env
from tagifai_platform import services

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
def running_daemon(env: dict, folder: Path):
    """`dagster-daemon run` on the project's workspace (the daemon `make dev` starts through
    `dagster dev`); its output in ``folder``/daemon.log.

    A test stops it once the runs it cares about are over. A daemon still running
    ``DAEMON_STOP_SECONDS`` after SIGTERM is killed with its code server, and the test fails.
    """
    command = [str(BIN / "dagster-daemon"), "run", "-w", str(PROJECT_ROOT / "workspace.yaml")]
    process = services.start_process(folder, "daemon", command, env=env, cwd=PROJECT_ROOT)
    try:
        yield process
    except BaseException:
        services.stop_process(folder, "daemon", DAEMON_STOP_SECONDS)
        raise
    if not services.stop_process(folder, "daemon", DAEMON_STOP_SECONDS):
        tail = (folder / "daemon.log").read_text()[-3000:]
        raise AssertionError(f"the daemon outlived {DAEMON_STOP_SECONDS} s after SIGTERM:\n{tail}")
