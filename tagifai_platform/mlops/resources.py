"""Resources of the MLOps domain: the feature store, the Optuna study, the MLflow registry and run."""

from pathlib import Path

import dagster as dg
from pydantic import PrivateAttr

from tagifai_platform.registry import ModelRegistry
from tagifai_platform.settings import sqlite_file


class FeatureStore(dg.ConfigurableResource):
    """The Feast repository under the home; opened once per step (Feast is slow to import)."""

    repo_dir: str
    _store = PrivateAttr(default=None)

    @property
    def store(self):
        from tagifai_platform.features import feature_store

        if self._store is None:
            self._store = feature_store(Path(self.repo_dir))
        return self._store


class TuningStudies(dg.ConfigurableResource):
    """Optuna studies persisted in a database (SQLite under the home, or a server that several tuning
    workers share), so a later run resumes the same study.

    Each running trial records a heartbeat every ``heartbeat_seconds``. A trial whose process died
    stays RUNNING in the store; once its last heartbeat is ``grace_seconds`` old, Optuna marks it
    FAILED before the study's next trial (``fail_stale_trials``). A heartbeat, rather than failing
    every RUNNING trial on resume, leaves alone the trials of another run tuning at the same time.
    """

    storage: str
    trials: int = 12
    seed: int = 42
    heartbeat_seconds: int = 10
    grace_seconds: int = 30

    def study(self, name: str):
        import warnings

        import optuna

        if (database := sqlite_file(self.storage)) is not None:
            database.parent.mkdir(parents=True, exist_ok=True)
        with warnings.catch_warnings():  # the heartbeat is marked experimental since Optuna 2.9
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            storage = optuna.storages.RDBStorage(
                self.storage, heartbeat_interval=self.heartbeat_seconds, grace_period=self.grace_seconds
            )
        return optuna.create_study(
            study_name=name,
            storage=storage,
            direction="maximize",
            load_if_exists=True,
            sampler=optuna.samplers.TPESampler(seed=self.seed),
            pruner=optuna.pruners.MedianPruner(n_startup_trials=3, n_warmup_steps=1),
        )


class ModelRegistryResource(dg.ConfigurableResource):
    """The MLflow tracking store and model registry at one URI (SQLite under the home by default);
    ``artifact_root`` None leaves the artifacts to the tracking server."""

    tracking_uri: str
    artifact_root: str | None = None

    @property
    def registry(self) -> ModelRegistry:
        return ModelRegistry(self.tracking_uri, self.artifact_root)


class PromotionPolicy(dg.ConfigurableResource):
    """How much better a challenger must be to replace the champion."""

    margin: float = 0.0
    slice_tolerance: float = 0.05
    quality_floor: float = 0.85


class ReportStore(dg.ConfigurableResource):
    """Pictures and reports meant for people, kept under the home."""

    base_dir: str

    def write(self, name: str, content: bytes | str) -> Path:
        path = Path(self.base_dir, name)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content if isinstance(content, bytes) else content.encode())
        return path


@dg.resource(
    config_schema={"experiment_name": str, "mlflow_tracking_uri": str},
    required_resource_keys={"model_registry"},
)
def mlflow_run(context: dg.InitResourceContext):
    """dagster-mlflow's tracking resource, started once the experiment exists under the home.

    dagster-mlflow would otherwise create the experiment with MLflow's default artifact
    location, ``./mlruns`` in whatever directory the run was started from. It is imported here,
    not at module level, because it imports all of MLflow (3 s) and every step process loads
    the code location.
    """
    import mlflow
    from dagster_mlflow import mlflow_tracking

    while mlflow.active_run() is not None:  # left over by an earlier run in this process (tests, retries)
        mlflow.end_run()
    context.resources.model_registry.registry.ensure_experiment(context.resource_config["experiment_name"])
    for tracking in mlflow_tracking.resource_fn(context):  # set up, hand over, clean up on error
        tracking.mlflow_run_id = mlflow.active_run().info.run_id  # so that later steps resume this run
        yield tracking
