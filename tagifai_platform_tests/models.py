"""Registering models by hand, for tests that need a champion the pipeline did not make."""

from tagifai_platform.ml.model import train_model
from tagifai_platform.ml.splits import split_dataset
from tagifai_platform.monitoring.drift import build_reference
from tagifai_platform.registry import EXPERIMENT_NAME, ModelRegistry, log_model

# Twenty word features and twenty character n-grams: a model that is clearly worse.
WEAK_PARAMS = {"word_max_features": 20, "char_max_features": 20}


def register_model(settings, labeled, params=None, *, champion: bool = False) -> int:
    """Train on ``labeled`` with ``params``, log it to MLflow as the pipeline does and register it;
    returns the version."""
    import mlflow

    registry = ModelRegistry(settings.mlflow_tracking_uri, settings.mlflow_artifacts)
    experiment_id = registry.ensure_experiment(EXPERIMENT_NAME)
    splits = split_dataset(labeled, seed=7)
    model = train_model(params, splits.train, splits.validation)
    mlflow.set_tracking_uri(settings.mlflow_tracking_uri)
    with mlflow.start_run(experiment_id=experiment_id, run_name="registered-by-test") as run:
        reference = build_reference(splits.train, splits.test, model).to_dict()
        info = log_model(model, splits.train, {"threshold": model.threshold}, reference)
    version = registry.register(info.model_uri, run.info.run_id, info.model_id, tags={"params": params or {}})
    if champion:
        registry.move_champion(version.version, {"action": "promote", "by": "test"})
    return version.version
