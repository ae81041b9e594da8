"""The code version recorded on every model: the git commit when there is one, else the package version."""

import subprocess
from functools import cache
from importlib import metadata

from tagifai_platform.settings import PROJECT_ROOT


def _git(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(["git", *args], cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=5)


@cache
def code_version() -> str:
    try:
        commit = _git("rev-parse", "--short=12", "HEAD")
        if commit.returncode == 0:
            dirty = _git("status", "--porcelain", "--untracked-files=no").stdout.strip()
            return commit.stdout.strip() + ("-dirty" if dirty else "")
    except (OSError, subprocess.TimeoutExpired):
        pass
    return metadata.version("tagifai_platform")
