"""End-to-end fixtures: the real commands a user runs, as subprocesses on a temporary home."""

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

PROJECT_ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent


def user_env(home: Path, source: Path, **settings: str) -> dict:
    """The environment of a user with a fresh TAGIFAI_HOME, its instance set up as `make` does."""
    dagster_home = home / "dagster"
    dagster_home.mkdir(parents=True)
    shutil.copy(PROJECT_ROOT / "dagster.yaml", dagster_home / "dagster.yaml")
    return {
        **os.environ,
        "TAGIFAI_HOME": str(home),
        "DAGSTER_HOME": str(dagster_home),
        "TAGIFAI_SOURCE": str(source),
        **settings,
    }


@pytest.fixture
def home_env(tmp_path, dataset_dir):
    return user_env(tmp_path / "home", dataset_dir)


def run(command: list[str], env: dict, cwd: Path, timeout: int = 300) -> subprocess.CompletedProcess:
    executable = [str(BIN / command[0]), *command[1:]]
    return subprocess.run(executable, env=env, cwd=cwd, capture_output=True, text=True, timeout=timeout)
