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


@pytest.fixture(scope="session")
def trained_home(tmp_path_factory, dataset_dir):
    """A home on which `dagster job execute -j end_to_end` has run once, with a few trials.

    Shared by the session: tests read it, or copy it before they change anything.
    """
    root = tmp_path_factory.mktemp("e2e")
    env = user_env(root / "home", dataset_dir, TAGIFAI_TUNING_TRIALS="2")
    result = run(
        ["dagster", "job", "execute", "-m", "tagifai_platform.definitions", "-j", "end_to_end"],
        env,
        cwd=root,
        timeout=600,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert sorted(path.name for path in root.iterdir()) == ["home"], "nothing lands in the working directory"
    return env, root
