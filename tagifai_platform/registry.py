"""The MLflow model registry as tagifai uses it: versions of one model, two aliases, a promotion log.

``challenger`` names the latest trained version and ``champion`` the one in service. Every
promotion (and, later, rollback) is written on the version it moved to, as tags, so that the
history needed to undo it lives in MLflow itself. Plain Python: the CLI and the prediction
service use it without Dagster.

MLflow records artifact locations as absolute paths. A home that was copied or moved would keep
reading and writing the models of the folder it came from, so opening the registry first points
the store's recorded locations at this home's artifacts (:func:`relocate_artifacts`).

A model is logged as an MLflow pyfunc model that any MLflow user can load and serve without this
project: its code is :mod:`tagifai_platform.mlflow_model` and :mod:`tagifai_platform.ml.tagger`
(stored as source, not pickled), its fitted pipeline a skops file, with a signature, an input
example and pinned requirements. Its version in the registry links to that logged model, whose
page shows its parameters, its training data set and the metrics measured on it.
"""

from __future__ import annotations

import json
import logging
import sqlite3
import sys
from contextlib import closing, contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, Any

from tagifai_platform.settings import sqlite_file

if TYPE_CHECKING:
    import pandas as pd

    from tagifai_platform.ml.model import TagClassifier

MODEL_NAME = "tagifai"
EXPERIMENT_NAME = "tagifai"
CHAMPION = "champion"
CHALLENGER = "challenger"
HOLDOUT_METRICS_TAG = "holdout_metrics"
PROMOTION_TAG = "promotion"
MODEL_VERSIONS_TAG = "mlflow.modelVersions"
# The logged model a version was made from; MLflow's SQL registry does not return it with the version.
MODEL_ID_TAG = "model_id"
MODEL_CODE = Path(__file__).with_name("mlflow_model.py")
# What loading a logged model needs besides MLflow itself (which MLflow adds on its own).
MODEL_REQUIREMENTS = ("scikit-learn", "skops", "scipy", "numpy", "pandas")

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
    model_id: str | None = None

    def tag_json(self, key: str) -> Any:
        return json.loads(self.tags[key]) if key in self.tags else None

    @property
    def holdout_metrics(self) -> dict | None:
        return self.tag_json(HOLDOUT_METRICS_TAG)

    @property
    def promotion(self) -> dict | None:
        return self.tag_json(PROMOTION_TAG)


class ModelRegistry:
    """A thin layer over ``MlflowClient``: tracking and registry at one URI (:class:`Settings` picks it).

    ``artifact_root`` is where a new experiment keeps its artifacts (a folder or a URI); None leaves
    that to the tracking server.
    """

    def __init__(self, tracking_uri: str, artifact_root: str | Path | None, model_name: str = MODEL_NAME):
        self.tracking_uri = tracking_uri
        self.artifact_root = None if artifact_root is None else str(artifact_root)
        self.model_name = model_name
        self._client = None

    @property
    def database(self) -> Path | None:
        """The SQLite file behind the tracking and registry URI; None for a database or tracking server."""
        return sqlite_file(self.tracking_uri)

    def exists(self) -> bool:
        """Whether the store may hold anything: asking MLflow would create an empty SQLite store in a
        home nothing was trained in yet, while a server's store is always there."""
        return self.database is None or self.database.exists()

    @property
    def client(self):
        if self._client is None:
            from mlflow import MlflowClient

            if self.database is not None:  # only a file store moves with the home
                self.database.parent.mkdir(parents=True, exist_ok=True)
                relocate_artifacts(self.database, self.artifact_root)
            self._client = MlflowClient(tracking_uri=self.tracking_uri, registry_uri=self.tracking_uri)
        return self._client

    def ensure_experiment(self, name: str = EXPERIMENT_NAME) -> str:
        """Create the experiment with its artifacts at ``artifact_root`` (MLflow's default is ./mlruns),
        or where the tracking server keeps them."""
        experiment = self.client.get_experiment_by_name(name)
        if experiment is not None:
            return experiment.experiment_id
        return self.client.create_experiment(name, artifact_location=_artifact_uri(self.artifact_root))

    def register(self, model_uri: str, run_id: str, model_id: str, tags: dict[str, Any]) -> ModelVersion:
        from mlflow.exceptions import MlflowException

        try:
            self.client.get_registered_model(self.model_name)
        except MlflowException:
            self.client.create_registered_model(self.model_name)
        created = self.client.create_model_version(
            self.model_name,
            source=model_uri,
            run_id=run_id,
            model_id=model_id,
            tags={MODEL_ID_TAG: model_id, **{k: _tag(v) for k, v in tags.items()}},
        )
        # What mlflow.register_model does besides: the logged model's page lists its versions.
        self.client.set_logged_model_tags(
            model_id,
            {MODEL_VERSIONS_TAG: json.dumps([{"name": self.model_name, "version": created.version}])},
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

    def document(self, version: ModelVersion, name: str) -> Any:
        """A document logged with ``version`` (:func:`log_model`), or None if it has none."""
        import mlflow.artifacts
        from mlflow.exceptions import MlflowException

        if version.run_id is None or version.model_id is None:
            return None
        mlflow.set_tracking_uri(self.tracking_uri)
        try:
            path = document_path(version.model_id, name)
            return mlflow.artifacts.load_dict(f"runs:/{version.run_id}/{path}")["content"]
        except (MlflowException, OSError):
            return None

    def load(self, version: ModelVersion) -> TagClassifier:
        """The model of ``version``, loaded as any MLflow user loads it (``mlflow.pyfunc``).

        Versions registered before models were logged as code and skops are scikit-learn models
        saved with cloudpickle (from this project's own registry); they still load, so that a home
        trained earlier keeps serving and can roll back to them.
        """
        import mlflow.pyfunc

        from tagifai_platform.ml.model import TagClassifier

        mlflow.set_tracking_uri(self.tracking_uri)
        mlflow.set_registry_uri(self.tracking_uri)
        pyfunc = mlflow.pyfunc.load_model(version.source)
        if pyfunc.loader_module == "mlflow.sklearn":
            return pyfunc.get_raw_model()
        loaded = pyfunc.unwrap_python_model()
        return TagClassifier.from_pipeline(loaded.pipeline, loaded.threshold, pyfunc.model_config["params"])


# The documents every logged model carries: what monitoring compares its traffic with, how its
# probabilities map to expected accuracy, and the ids of the rows it learned from (what is "new"
# to it when it is retrained).
REFERENCE, CALIBRATOR, TRAINING_IDS = "monitoring_reference", "calibrator", "training_ids"


def document_path(model_id: str, name: str) -> str:
    """Where, among its run's artifacts, a document of a logged model is."""
    return f"models/{model_id}/{name}.json"


# Rows the logged training set's schema is read from (see log_model).
SCHEMA_ROWS = 1_000


def log_model(
    model: TagClassifier,
    training_dataset: pd.DataFrame,
    metrics: dict[str, float],
    baseline: dict[str, dict],
    digest: str | None = None,
):
    """Log ``model`` to the active MLflow run, linked to its training data and ``metrics`` (e.g. its
    validation and test scores; :func:`log_metrics` adds the ones measured later).

    The training data is linked as its name, schema and ``digest`` (the data fingerprint the run
    computed; MLflow derives one from the name and schema without it), never by scanning it:
    ``mlflow.data.from_pandas`` infers the schema by visiting every value, 20 s at a million
    projects, so the schema is read off the first rows, which have every column's type.

    The monitoring ``baseline`` (``{REFERENCE: ..., CALIBRATOR: ...}``) and the training set's ids
    travel with the model version, so that whichever version serves (after a promotion or a
    rollback) is judged against, and retrained from, what that version itself learned from.

    Returns MLflow's ``ModelInfo``; ``model_uri`` and ``model_id`` are what :meth:`register` takes.
    """
    import tempfile
    import warnings

    import mlflow
    import pandas as pd
    import skops.io
    from mlflow.data.code_dataset_source import CodeDatasetSource
    from mlflow.data.meta_dataset import MetaDataset
    from mlflow.entities import LoggedModelInput
    from mlflow.models import infer_signature
    from mlflow.tracking.context import registry as context_registry

    from tagifai_platform.ml import tagger

    example = pd.DataFrame({"text": training_dataset["text"].head(2).tolist()})
    answers = tagger.answer_frame(model.predict_proba(example), model.classes_, model.threshold)
    with tempfile.TemporaryDirectory() as tmp, _importable_as("tagger", tagger):
        pipeline = Path(tmp) / "pipeline.skops"
        skops.io.dump(model.pipeline_, pipeline)
        info = mlflow.pyfunc.log_model(
            name="model",
            python_model=str(MODEL_CODE),
            code_paths=[tagger.__file__],
            artifacts={"pipeline": str(pipeline)},
            model_config={"threshold": float(model.threshold), "params": dict(model.params)},
            signature=infer_signature(example, answers),
            input_example=example,
            pip_requirements=model_requirements(),
            params={key: str(value) for key, value in model.params.items()},
        )
    with warnings.catch_warnings():  # the ids are integers and never missing: MLflow's hint does not apply
        warnings.filterwarnings("ignore", "Hint: Inferred schema contains integer", UserWarning)
        schema = infer_signature(training_dataset.head(SCHEMA_ROWS)).inputs
    dataset = MetaDataset(
        CodeDatasetSource(tags=context_registry.resolve_tags()),  # what from_pandas names by default
        name="training_dataset",
        digest=digest,
        schema=schema,
    )
    mlflow.log_input(dataset, context="training", model=LoggedModelInput(info.model_id))
    log_metrics(info.model_id, metrics)
    documents = {**baseline, TRAINING_IDS: training_dataset["id"].drop_duplicates().tolist()}
    for name, content in documents.items():
        mlflow.log_dict({"content": content}, document_path(info.model_id, name))
    return info


@contextmanager
def _importable_as(name: str, module: ModuleType):
    """``import name`` gives ``module`` inside the block.

    MLflow runs a model's code while saving it, before that model's ``code_paths`` are on
    ``sys.path``: there, the ``import tagger`` of :mod:`tagifai_platform.mlflow_model` must find
    this project's copy of the file the model ships.
    """
    previous = sys.modules.get(name)
    sys.modules[name] = module
    try:
        yield
    finally:
        if previous is None:
            del sys.modules[name]
        else:
            sys.modules[name] = previous


def log_metrics(model_id: str, metrics: dict[str, float]) -> None:
    """Record ``metrics`` in the active run and on the logged model ``model_id``."""
    import mlflow

    mlflow.log_metrics(metrics, model_id=model_id)


def model_requirements() -> list[str]:
    """What loading the model elsewhere needs, pinned to what trained it.

    MLflow can infer this, but it does so by importing the model in a subprocess (8 s a model).
    """
    from importlib.metadata import version

    return [f"{name}=={version(name)}" for name in MODEL_REQUIREMENTS]


def _artifact_uri(artifact_root: str | None) -> str | None:
    """A folder as a ``file:`` URI (created), a URI as it is."""
    if artifact_root is None or "://" in artifact_root:
        return artifact_root
    Path(artifact_root).mkdir(parents=True, exist_ok=True)
    return Path(artifact_root).as_uri()


def relocate_artifacts(
    database: Path, artifact_root: str | None, experiment: str = EXPERIMENT_NAME
) -> str | None:
    """Point the store's artifact locations at ``artifact_root`` if they name another folder.

    The experiment records where its artifacts were when it was created; when that is not
    ``artifact_root``, the home was copied or moved, and every location under the old folder
    (experiment, runs, logged models, model versions) is rewritten to the same place under the new
    one. Idempotent, and a no-op for a home that never moved. Returns the old folder, if any.
    """
    if not database.exists() or artifact_root is None or "://" in artifact_root:
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
    tags = dict(item.tags)
    return ModelVersion(int(item.version), item.run_id, item.source, tags, tags.get(MODEL_ID_TAG))
