"""Serving fixtures: a home with two registered model versions, and ``tagifai serve`` running on it.

The two versions are trained on the real data with deliberately different strength, so that a
promotion or a rollback is visible in what the service answers, not only in the version number.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from tagifai_platform.registry import HOLDOUT_METRICS_TAG, ModelRegistry
from tagifai_platform.settings import Settings, load_settings
from tagifai_platform_tests.models import WEAK_PARAMS, register_model

BIN = Path(sys.executable).parent
STARTUP_SECONDS = 90


@dataclass(frozen=True)
class ModelHome:
    settings: Settings
    strong: int
    weak: int

    @property
    def registry(self) -> ModelRegistry:
        return ModelRegistry(self.settings.mlflow_tracking_uri, self.settings.mlflow_artifacts)


@pytest.fixture(scope="session")
def model_home(tmp_path_factory, labeled, holdout) -> ModelHome:
    """A home whose registry holds a strong version (champion, with holdout scores) and a weak one."""
    from tagifai_platform.ml.evaluation import evaluate

    settings = load_settings({"TAGIFAI_HOME": str(tmp_path_factory.mktemp("serving") / "home")})
    strong = register_model(settings, labeled)
    weak = register_model(settings, labeled, WEAK_PARAMS)
    home = ModelHome(settings, strong, weak)
    scores = evaluate(home.registry.load(home.registry.get(strong)), holdout)["overall"]
    home.registry.set_tags(strong, {HOLDOUT_METRICS_TAG: scores})
    home.registry.move_champion(strong, {"reason": "serving test fixture"})
    assert Path(settings.mlflow_artifacts).exists(), "model artifacts belong under the home, never ./mlruns"
    return home


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class Service:
    """``tagifai serve`` as a user starts it; its output goes to a file so that it can never block."""

    process: subprocess.Popen
    url: str
    output: Path

    @classmethod
    def start(cls, settings: Settings, workdir: Path, **environment: str) -> Service:
        """Start on a free port with ``environment`` added (``TAGIFAI_SERVE_WORKERS="2"``, say)."""
        port = free_port()
        output = workdir / "serve.log"
        env = {**os.environ, "TAGIFAI_HOME": str(settings.home), **environment}
        with output.open("wb") as sink:
            process = subprocess.Popen(
                [str(BIN / "tagifai"), "serve", "--port", str(port)],
                cwd=workdir,
                env=env,
                stdout=sink,
                stderr=subprocess.STDOUT,
            )
        service = cls(process, f"http://127.0.0.1:{port}", output)
        service.wait_until_up()
        return service

    def log(self) -> str:
        return self.output.read_text(errors="replace")[-4000:]

    def wait_until_up(self) -> None:
        deadline = time.monotonic() + STARTUP_SECONDS
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                pytest.fail(f"tagifai serve exited with {self.process.returncode}:\n{self.log()}")
            try:
                httpx.get(f"{self.url}/health", timeout=2)
                return
            except httpx.TransportError:
                time.sleep(0.2)
        self.stop()
        pytest.fail(f"tagifai serve did not answer /health within {STARTUP_SECONDS} s:\n{self.log()}")

    def stop(self) -> None:
        """Ctrl-C, as a user stops it. (SIGTERM shuts down just as cleanly, but uvicorn then re-raises
        it so that the exit status says "terminated".)"""
        self.process.send_signal(signal.SIGINT)
        try:
            self.process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=15)


@pytest.fixture(scope="module")
def service(model_home, tmp_path_factory):
    """The service with two workers, whatever the machine's cores, so that they share the port and log."""
    workdir = tmp_path_factory.mktemp("serve-cwd")
    running = Service.start(model_home.settings, workdir, TAGIFAI_SERVE_WORKERS="2")
    yield running
    running.stop()
    assert running.process.returncode == 0 and "Application shutdown complete" in running.log(), running.log()
    assert [path.name for path in workdir.iterdir()] == ["serve.log"], "the service writes only to its home"


@pytest.fixture
def client(service):
    with httpx.Client(base_url=service.url, timeout=30) as http:
        yield http


def served_versions(url: str) -> dict[str, int]:
    """The model version each live worker of the service at ``url`` serves, from its ``/metrics``."""
    from prometheus_client.parser import text_string_to_metric_families

    text = httpx.get(f"{url}/metrics", timeout=10).text
    return {
        sample.labels["pid"]: int(sample.value)
        for family in text_string_to_metric_families(text)
        if family.name == "tagifai_model_version"
        for sample in family.samples
    }


def wait_until_all_workers_serve(url: str, version: int, workers: int, limit: float) -> float:
    """Seconds until each of the ``workers`` serves ``version``; fails the test after ``limit``."""
    started = time.monotonic()
    while time.monotonic() < started + limit:
        versions = served_versions(url)
        if len(versions) >= workers and set(versions.values()) == {version}:
            return time.monotonic() - started
        time.sleep(0.05)
    pytest.fail(f"not every worker served version {version} within {limit} s: {served_versions(url)}")
