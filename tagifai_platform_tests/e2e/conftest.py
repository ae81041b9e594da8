"""End-to-end fixtures: the real commands a user runs, as subprocesses on a temporary home."""

import subprocess
import sys
from pathlib import Path

import pytest

from benchmarks.dataops import user_env

PROJECT_ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent


@pytest.fixture
def home_env(tmp_path, dataset_dir):
    return user_env(tmp_path / "home", dataset_dir)


def run(command: list[str], env: dict, cwd: Path, timeout: int = 300) -> subprocess.CompletedProcess:
    executable = [str(BIN / command[0]), *command[1:]]
    return subprocess.run(executable, env=env, cwd=cwd, capture_output=True, text=True, timeout=timeout)
