"""The model registry on an `mlflow server` (PostgreSQL behind it, artifacts served by it)."""

from tagifai_platform import services
from tagifai_platform.harness import register_model
from tagifai_platform.ml.model import predict
from tagifai_platform.registry import CHAMPION, ModelRegistry
from tagifai_platform.settings import load_settings


def test_a_model_registered_through_an_mlflow_server_is_served_from_it(tmp_path, postgres, servers, labeled):
    backend = postgres.create_database("mlflow_registry")
    url = services.start_mlflow_server(servers, services.free_port(), backend)
    settings = load_settings({"TAGIFAI_HOME": str(tmp_path / "home"), "TAGIFAI_MLFLOW_TRACKING_URI": url})

    version = register_model(settings, labeled, champion=True)

    registry = ModelRegistry(settings.mlflow_tracking_uri, settings.mlflow_artifacts)
    assert registry.exists() and registry.database is None
    champion = registry.by_alias(CHAMPION)
    assert champion.version == version
    assert registry.client.get_experiment_by_name("tagifai").artifact_location.startswith("mlflow-artifacts:")
    [answer] = predict(registry.load(champion), ["YOLO object detection in real time"])
    assert answer["tag"] == "computer-vision"
    assert any((servers / "mlflow-artifacts").rglob("*.skops")), "the server holds the model's files"
    assert not (tmp_path / "home" / "mlflow").exists(), "nothing of MLflow lands in the home"
