"""The MLflow model registry as tagifai uses it: versions of one model, two aliases, a promotion log.

``challenger`` names the latest trained version and ``champion`` the one in service. Every
promotion (and, later, rollback) is written on the version it moved to, as tags, so that the
history needed to undo it lives in MLflow itself. Plain Python: the CLI and the prediction
service use it without Dagster.

MLflow records artifact locations as absolute paths. A home that was copied or moved would keep
reading and writing the models of the folder it came from, so opening the registry first points
the store's recorded locations at this home's artifacts (:func:`relocate_artifacts`).
"""

from __future__ import annotations

import json
import logging
import sqlite3
from contextlib import closing
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

MODEL_NAME = "tagifai"
EXPERIMENT_NAME = "tagifai"
CHAMPION = "champion"
CHALLENGER = "challenger"
HOLDOUT_METRICS_TAG = "holdout_metrics"
PROMOTION_TAG = "promotion"

# Where MLflow's SQL store keeps absolute artifact locations (checked against MLflow 3's schema by
# the tests: a copied home whose champion loads and whose new model lands in the copy).
LOCATION_COLUMNS = (
    ("experiments", "artifact_location"),
    ("runs", "artifact_uri"),
    ("logged_models", "artifact_location"),
    ("model_versions", "source"),
    ("model_versions", "storage_location"),
)


@dataclass(frozen=True)
class ModelVersion:
    version: int
    run_id: str | None
    source: str
    tags: dict[str, str]

    def tag_json(self, key: str) -> Any:
        return json.loads(self.tags[key]) if key in self.tags else None

    @property
    def holdout_metrics(self) -> dict | None:
        return self.tag_json(HOLDOUT_METRICS_TAG)

    @property
    def promotion(self) -> dict | None:
        return self.tag_json(PROMOTION_TAG)


class ModelRegistry:
    """A thin layer over ``MlflowClient`` with tracking and registry both under the project's home."""

    def __init__(self, tracking_uri: str, artifact_root: Path, model_name: str = MODEL_NAME):
        self.tracking_uri = tracking_uri
        self.artifact_root = Path(artifact_root)
        self.model_name = model_name
        self._client = None

    @property
    def database(self) -> Path:
        """The SQLite file behind the tracking and registry URI."""
        return Path(self.tracking_uri.removeprefix("sqlite:///"))

    @property
    def client(self):
        if self._client is None:
            from mlflow import MlflowClient

            self.database.parent.mkdir(parents=True, exist_ok=True)
            relocate_artifacts(self.database, self.artifact_root)
            self._client = MlflowClient(tracking_uri=self.tracking_uri, registry_uri=self.tracking_uri)
        return self._client

    def ensure_experiment(self, name: str = EXPERIMENT_NAME) -> str:
        """Create the experiment with its artifacts under the home (MLflow's default is ./mlruns)."""
        experiment = self.client.get_experiment_by_name(name)
        if experiment is not None:
            return experiment.experiment_id
        self.artifact_root.mkdir(parents=True, exist_ok=True)
        return self.client.create_experiment(name, artifact_location=self.artifact_root.as_uri())

    def register(self, model_uri: str, run_id: str, tags: dict[str, Any]) -> ModelVersion:
        from mlflow.exceptions import MlflowException

        try:
            self.client.get_registered_model(self.model_name)
        except MlflowException:
            self.client.create_registered_model(self.model_name)
        created = self.client.create_model_version(
            self.model_name, source=model_uri, run_id=run_id, tags={k: _tag(v) for k, v in tags.items()}
        )
        self.client.set_registered_model_alias(self.model_name, CHALLENGER, created.version)
        return self.get(int(created.version))

    def get(self, version: int) -> ModelVersion:
        return _version(self.client.get_model_version(self.model_name, str(version)))

    def by_alias(self, alias: str) -> ModelVersion | None:
        from mlflow.exceptions import MlflowException

        try:
            return _version(self.client.get_model_version_by_alias(self.model_name, alias))
        except MlflowException:
            return None

    def set_tags(self, version: int, tags: dict[str, Any]) -> None:
        for key, value in tags.items():
            self.client.set_model_version_tag(self.model_name, str(version), key, _tag(value))

    def move_champion(self, version: int, record: dict[str, Any]) -> ModelVersion:
        """Point ``champion`` at ``version`` and write why on it; returns the updated version."""
        previous = self.by_alias(CHAMPION)
        record = {
            **record,
            "at": datetime.now(UTC).isoformat(timespec="microseconds"),
            "previous_version": previous.version if previous else None,
        }
        self.set_tags(version, {PROMOTION_TAG: record})
        self.client.set_registered_model_alias(self.model_name, CHAMPION, str(version))
        return self.get(version)

    def load(self, version: ModelVersion):
        import mlflow.sklearn

        mlflow.set_tracking_uri(self.tracking_uri)
        mlflow.set_registry_uri(self.tracking_uri)
        return mlflow.sklearn.load_model(version.source)


def relocate_artifacts(database: Path, artifact_root: Path, experiment: str = EXPERIMENT_NAME) -> str | None:
    """Point the store's artifact locations at ``artifact_root`` if they name another folder.

    The experiment records where its artifacts were when it was created; when that is not
    ``artifact_root``, the home was copied or moved, and every location under the old folder
    (experiment, runs, logged models, model versions) is rewritten to the same place under the new
    one. Idempotent, and a no-op for a home that never moved. Returns the old folder, if any.
    """
    if not database.exists():
        return None
    new = Path(artifact_root).as_uri()
    with closing(sqlite3.connect(database)) as connection, connection:
        tables = {name for (name,) in connection.execute("select name from sqlite_master")}
        if "experiments" not in tables:  # a new store whose tables MLflow is still creating
            return None
        found = connection.execute(
            "select artifact_location from experiments where name = ?", (experiment,)
        ).fetchone()
        old = found[0] if found else new
        if old == new or not old.startswith("file:"):
            return None
        for table, column in (location for location in LOCATION_COLUMNS if location[0] in tables):
            connection.execute(
                f"update {table} set {column} = ? || substr({column}, ?) "
                f"where {column} = ? or substr({column}, 1, ?) = ?",
                (new, len(old) + 1, old, len(old) + 1, old + "/"),
            )
    logging.getLogger(__name__).warning(f"MLflow artifacts recorded under {old} now point to {new}")
    return old


def _tag(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value, sort_keys=True, default=str)


def _version(item) -> ModelVersion:
    return ModelVersion(int(item.version), item.run_id, item.source, dict(item.tags))
