"""The registered model outside this project: what it is made of, and loading and serving it with MLflow
alone, in a fresh virtual environment built only from the model's own requirements.

Building that environment installs MLflow and scikit-learn from the package registry (the only
network this suite uses; ``uv`` makes it quick when its cache is warm), hence the ``slow`` marks.
"""

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from tagifai_platform.harness import BIN, free_port
from tagifai_platform.registry import MODEL_NAME, MODEL_VERSIONS_TAG
from tagifai_platform_tests.serving.test_service import LANGUAGE, VISION

TEXTS = [VISION, LANGUAGE, "Kubernetes pipelines to deploy and monitor models", "A recipe for sourdough"]
CHAMPION_URI = f"models:/{MODEL_NAME}@champion"

LOAD = """
import importlib.util, json, sys
import mlflow, pandas as pd
assert importlib.util.find_spec("tagifai_platform") is None, "the project must not be importable here"
model = mlflow.pyfunc.load_model(sys.argv[1])
print(json.dumps(model.predict(pd.DataFrame({"text": json.loads(sys.argv[2])}))["tag"].tolist()))
"""


def test_the_version_links_its_logged_model_training_data_and_metrics(model_home):
    client = model_home.registry.client
    version = client.get_model_version(MODEL_NAME, str(model_home.strong))
    logged = client.get_logged_model(version.source.removeprefix("models:/"))
    assert json.loads(logged.tags[MODEL_VERSIONS_TAG]) == [{"name": MODEL_NAME, "version": version.version}]
    assert logged.source_run_id == version.run_id
    assert "threshold" in {metric.key for metric in logged.metrics}
    assert "char_ngram_max" in logged.params
    inputs = client.get_run(version.run_id).inputs
    assert [item.dataset.name for item in inputs.dataset_inputs] == ["training_dataset"]
    assert [item.model_id for item in inputs.model_inputs] == [logged.model_id]


def use_registry_of(settings) -> None:
    """Point MLflow's fluent API (``models:/`` URIs) at the registry of ``settings``."""
    import mlflow

    mlflow.set_tracking_uri(settings.mlflow_tracking_uri)
    mlflow.set_registry_uri(settings.mlflow_tracking_uri)


def test_the_model_is_code_and_skops_with_a_signature_never_a_pickle(model_home):
    import mlflow

    use_registry_of(model_home.settings)
    local = Path(mlflow.artifacts.download_artifacts(f"models:/{MODEL_NAME}/{model_home.strong}"))
    files = {path.relative_to(local).as_posix() for path in local.rglob("*") if path.is_file()}
    assert {"mlflow_model.py", "code/tagger.py", "artifacts/pipeline.skops", "input_example.json"} <= files
    assert not [name for name in files if name.endswith((".pkl", ".pickle", ".joblib"))], files
    info = mlflow.models.get_model_info(str(local))
    assert info.signature.inputs.input_names() == ["text"]
    assert info.signature.outputs.input_names()[0] == "tag"
    requirements = (local / "requirements.txt").read_text().split()
    assert {line.split("==")[0] for line in requirements} >= {"mlflow", "scikit-learn", "skops"}


def test_a_version_registered_before_as_a_cloudpickled_sklearn_model_still_loads(settings, labeled):
    import mlflow
    import mlflow.sklearn

    from tagifai_platform.ml.model import predict, train_model
    from tagifai_platform.registry import EXPERIMENT_NAME, ModelRegistry

    registry = ModelRegistry(settings.mlflow_tracking_uri, settings.mlflow_artifacts)
    model = train_model({"word_max_features": 50, "char_max_features": 50}, labeled, labeled.head(100))
    use_registry_of(settings)
    with mlflow.start_run(experiment_id=registry.ensure_experiment(EXPERIMENT_NAME)) as run:
        info = mlflow.sklearn.log_model(model, name="model", serialization_format="cloudpickle")
    version = registry.register(info.model_uri, run.info.run_id, info.model_id, tags={})
    assert predict(registry.load(version), TEXTS) == predict(model, TEXTS)


@pytest.fixture(scope="module")
def model_venv(model_home, tmp_path_factory):
    """A fresh virtual environment holding the champion's requirements and nothing of this project."""
    import mlflow

    use_registry_of(model_home.settings)
    requirements = mlflow.pyfunc.get_model_dependencies(CHAMPION_URI)
    venv = tmp_path_factory.mktemp("model-env") / "venv"
    uv = str(BIN / "uv")
    subprocess.run(
        [uv, "venv", "--quiet", "--python", sys._base_executable, str(venv)], check=True, timeout=120
    )
    subprocess.run(
        [uv, "pip", "install", "--quiet", "--python", str(venv / "bin" / "python"), "-r", requirements],
        check=True,
        timeout=900,
    )
    return venv


@pytest.fixture
def model_env(model_home, model_venv):
    """The environment of a user of that venv: MLflow pointed at the registry, nothing else of ours."""
    keep = {
        key: value for key, value in os.environ.items() if key in ("HOME", "LANG", "TMPDIR", "UV_CACHE_DIR")
    }
    return {
        **keep,
        "PATH": f"{model_venv / 'bin'}:/usr/bin:/bin",
        "MLFLOW_TRACKING_URI": model_home.settings.mlflow_tracking_uri,
        "MLFLOW_DISABLE_TELEMETRY": "true",
        "DO_NOT_TRACK": "true",
    }


@pytest.mark.slow
def test_mlflow_alone_loads_the_champion_and_answers_the_tags_this_project_serves(
    model_home, model_venv, model_env, client, tmp_path
):
    loaded = subprocess.run(
        [str(model_venv / "bin" / "python"), "-c", LOAD, CHAMPION_URI, json.dumps(TEXTS)],
        env=model_env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert loaded.returncode == 0, loaded.stderr[-3000:]
    served = client.post("/predict", json={"texts": TEXTS}).json()
    assert served["model_version"] == model_home.strong
    assert json.loads(loaded.stdout.strip().splitlines()[-1]) == [p["tag"] for p in served["predictions"]]


@pytest.mark.slow
def test_mlflow_models_serve_answers_the_tags_this_project_serves(
    model_home, model_venv, model_env, client, tmp_path
):
    port = free_port()
    log = tmp_path / "mlflow-serve.log"
    with log.open("wb") as sink:
        # The environment is already fresh and made of the model's requirements alone, so MLflow
        # need not build another: --env-manager local serves from it.
        process = subprocess.Popen(
            [
                str(model_venv / "bin" / "mlflow"),
                "models",
                "serve",
                "-m",
                CHAMPION_URI,
                "--env-manager",
                "local",
            ]
            + ["--host", "127.0.0.1", "--port", str(port)],
            env=model_env,
            cwd=tmp_path,
            stdout=sink,
            stderr=subprocess.STDOUT,
        )
    try:
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 180
        while True:
            assert process.poll() is None, log.read_text()[-3000:]
            assert time.monotonic() < deadline, log.read_text()[-3000:]
            try:
                if httpx.get(f"{url}/ping", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.5)
        body = {"dataframe_split": {"columns": ["text"], "data": [[text] for text in TEXTS]}}
        answer = httpx.post(f"{url}/invocations", json=body, timeout=60)
        assert answer.status_code == 200, answer.text
        served = client.post("/predict", json={"texts": TEXTS}).json()["predictions"]
        assert [row["tag"] for row in answer.json()["predictions"]] == [p["tag"] for p in served]
    finally:
        process.terminate()
        process.wait(30)
