"""`make production-up` / `production-down`: every service on loopback under one folder, then none."""

import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from tagifai_platform import services
from tagifai_platform_tests.e2e.conftest import PROJECT_ROOT, run
from tagifai_platform_tests.production.conftest import require

pytestmark = pytest.mark.slow  # starts seven servers


@pytest.fixture
def folder():
    for service in ("postgres", "redis"):
        require(service)
    # Reachable by the `postgres` user that runs the database server when the tests run as root.
    directory = Path(tempfile.mkdtemp(prefix="tagifai-production-"))
    directory.chmod(0o755)
    yield directory
    shutil.rmtree(directory, ignore_errors=True)


def production(action: str, folder: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "tagifai_platform.production", action, str(folder)],
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        timeout=600,
    )


def test_production_up_starts_every_service_and_down_stops_them(folder, dataset_dir):
    started = production("start", folder)
    try:
        assert started.returncode == 0, started.stderr[-3000:]
        settings = dict(
            line.removeprefix("export ").split("=", 1) for line in (folder / "env").read_text().splitlines()
        )
        ui = started.stdout.split("Dagster UI: ")[1].split()[0]
        assert services.http_ok(f"{ui}/server_info")
        assert services.http_ok(f"{settings['TAGIFAI_MLFLOW_TRACKING_URI']}/health")
        env = {**os.environ, **settings, "TAGIFAI_SOURCE": str(dataset_dir)}
        assert settings["TAGIFAI_WAREHOUSE"].endswith("/warehouse"), "runs on several machines write at once"
        assert settings["TAGIFAI_FEAST_REGISTRY"].endswith("/feast")
        assert settings["TAGIFAI_FEAST_ONLINE_STORE"].endswith("/1")
        status = run(["tagifai", "status"], env, cwd=folder)
        assert status.returncode == 0 and '"champion": null' in status.stdout, status.stderr
        pids = [int(path.read_text()) for path in folder.glob("*.pid")]
        assert {path.stem for path in folder.glob("*.pid")} == {
            "redis",
            "mlflow",
            "worker",
            "webserver",
            "daemon",
        }
    finally:
        stopped = production("stop", folder)
    assert stopped.returncode == 0, stopped.stderr[-3000:]
    assert not list(folder.glob("*.pid")) and not (folder / "postgres" / "data" / "postmaster.pid").exists()
    for pid in pids:
        with pytest.raises(ProcessLookupError):
            os.kill(pid, 0)
