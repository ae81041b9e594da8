"""The code version recorded on every model: the git commit when there is one, else the package version."""

import subprocess
from functools import cache
from importlib import metadata
from pathlib import Path

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


def source_version(*modules: str) -> str:
    """A Dagster ``code_version``: a hash of the source of the modules that compute an asset.

    Dagster marks an asset stale when its code version changes, so editing how the training set
    is split, say, shows the training set and everything downstream as out of date in the UI,
    while an edit elsewhere does not. Whole modules are hashed: coarser than one function, but
    nothing that computes the asset can change unseen.
    """
    import hashlib
    import importlib.util

    digest = hashlib.sha256()
    for name in modules:
        digest.update(Path(importlib.util.find_spec(name).origin).read_bytes())
    return digest.hexdigest()[:12]
