"""Driving the platform from outside, as a user does: the prediction service as a child process,
and a model trained and registered by hand (a champion the pipeline did not make).

The tests and the benchmarks both need these; benchmarks never import test modules, so they live
in the package.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import httpx

from tagifai_platform.services import free_port
from tagifai_platform.settings import Settings

BIN = Path(sys.executable).parent
# Each worker imports MLflow and scikit-learn and loads the champion: on a loaded 2-core machine
# (tests beside other suites) that took more than 90 s.
STARTUP_SECONDS = 180


class ServiceFailed(RuntimeError):
    """The service did not come up, or did not do what was waited for; the message has its log."""


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
                raise ServiceFailed(f"tagifai serve exited with {self.process.returncode}:\n{self.log()}")
            try:
                httpx.get(f"{self.url}/health", timeout=2)
                return
            except httpx.TransportError:
                time.sleep(0.2)
        self.stop()
        raise ServiceFailed(f"tagifai serve did not answer /health within {STARTUP_SECONDS} s:\n{self.log()}")

    def stop(self) -> None:
        """Ctrl-C, as a user stops it. (SIGTERM shuts down just as cleanly, but uvicorn then re-raises
        it so that the exit status says "terminated".)"""
        self.process.send_signal(signal.SIGINT)
        try:
            self.process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=15)


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
    """Seconds until each of the ``workers`` serves ``version``; raises after ``limit``."""
    started = time.monotonic()
    while time.monotonic() < started + limit:
        versions = served_versions(url)
        if len(versions) >= workers and set(versions.values()) == {version}:
            return time.monotonic() - started
        time.sleep(0.05)
    raise ServiceFailed(f"not every worker served version {version} within {limit} s: {served_versions(url)}")


# Twenty word features and twenty character n-grams: a model that is clearly worse.
WEAK_PARAMS = {"word_max_features": 20, "char_max_features": 20}


def register_model(settings: Settings, labeled, params=None, *, champion: bool = False) -> int:
    """Train on ``labeled`` with ``params``, log it to MLflow as the pipeline does and register it;
    returns the version."""
    import mlflow

    from tagifai_platform.ml.model import train_model
    from tagifai_platform.ml.splits import split_dataset
    from tagifai_platform.monitoring.baseline import fit_baseline
    from tagifai_platform.registry import CALIBRATOR, EXPERIMENT_NAME, REFERENCE, ModelRegistry, log_model

    registry = ModelRegistry(settings.mlflow_tracking_uri, settings.mlflow_artifacts)
    experiment_id = registry.ensure_experiment(EXPERIMENT_NAME)
    splits = split_dataset(labeled, seed=7)
    model = train_model(params, splits.train, splits.validation)
    mlflow.set_tracking_uri(settings.mlflow_tracking_uri)
    with mlflow.start_run(experiment_id=experiment_id, run_name="registered-by-test") as run:
        baseline = fit_baseline(splits.train, params, model.threshold)
        documents = {REFERENCE: baseline.reference.to_dict(), CALIBRATOR: baseline.calibrator.to_dict()}
        info = log_model(model, splits.train, {"threshold": model.threshold}, documents)
    version = registry.register(info.model_uri, run.info.run_id, info.model_id, tags={"params": params or {}})
    if champion:
        registry.move_champion(version.version, {"action": "promote", "by": "test"})
    return version.version


def evaluate_run_status_sensor(sensor, instance, run_id: str, resources: dict | None = None):
    """What ``sensor`` (a run-status or run-failure sensor) answers about the finished run
    ``run_id``, as the daemon would on its next tick."""
    import dagster as dg

    run = instance.get_run_by_id(run_id)
    ending = dg.DagsterEventType.RUN_SUCCESS if run.is_success else dg.DagsterEventType.RUN_FAILURE
    event = next(iter(instance.all_logs(run_id, of_type=ending))).dagster_event
    context = dg.build_run_status_sensor_context(
        sensor_name=sensor.name,
        dagster_instance=instance,
        dagster_run=run,
        dagster_event=event,
        resources=resources,
    )
    return sensor(context if run.is_success else context.for_run_failure())
