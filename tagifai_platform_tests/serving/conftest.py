"""Serving fixtures: a home with two registered model versions, and ``tagifai serve`` running on it.

The two versions are trained on the real data with deliberately different strength, so that a
promotion or a rollback is visible in what the service answers, not only in the version number.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from tagifai_platform.harness import WEAK_PARAMS, Service, register_model
from tagifai_platform.registry import HOLDOUT_METRICS_TAG, ModelRegistry
from tagifai_platform.settings import Settings, load_settings


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
