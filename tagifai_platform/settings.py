"""The one place that reads the environment.

Every tunable has a laptop-friendly default and all state lives under ``TAGIFAI_HOME`` so that
deleting that folder is a clean start. Other modules ask for a :class:`Settings` instead of
reading ``os.environ`` themselves, which keeps tests free to point a run at a temporary home.

Production mode changes settings, not code: each store's URL (MLflow, Optuna, the warehouse) and
the executor can name a shared service; left unset, each is the embedded file under the home, so a
laptop needs nothing started. (The Dagster instance's own storage is chosen by ``$DAGSTER_HOME/dagster.yaml``,
which Dagster reads itself: ``deploy/dagster.postgres.yaml`` is the shared one.)
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent

DEFAULT_SOURCE = "https://raw.githubusercontent.com/GokuMohandas/Made-With-ML/main/datasets"

# Libraries that report usage by default must stay quiet: nothing may phone home.
QUIET_LIBRARIES = {
    "GX_ANALYTICS_ENABLED": "false",
    "FEAST_USAGE": "False",
    "MLFLOW_DISABLE_TELEMETRY": "true",
    "DO_NOT_TRACK": "true",
    # Not telemetry, but noise: a progress bar on stderr for every small document read from MLflow.
    "MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR": "false",
}


@dataclass(frozen=True)
class Settings:
    home: Path
    source: str
    landing: Path
    dagster_home: Path
    executor: str = "in_process"
    # Store URLs; None is the embedded default under the home (the properties below).
    mlflow_store: str | None = None
    mlflow_artifacts_store: str | None = None
    optuna_store: str | None = None
    warehouse_store: str | None = None
    feast_registry: str | None = None  # a SQLAlchemy URL; None: a file under the home
    feast_online_store: str | None = None  # redis://host:port/db; None: SQLite under the home
    celery_broker: str = "redis://127.0.0.1:6379/0"
    celery_backend_store: str | None = None
    tuning_trials: int = 12
    tuning_workers: int = 1
    promotion_margin: float = 0.0
    non_inferiority_margin: float = 0.02
    gate_confidence: float = 0.95
    gate_resamples: int = 2000
    slice_tolerance: float = 0.05
    quality_floor: float = 0.85
    monitoring_window_hours: float = 24.0
    monitoring_min_window: int = 50
    min_live_labels: int = 20
    label_delay_hours: float = 48.0
    drift_persistence: int = 2
    estimated_f1_drop: float = 0.05
    min_new_labels: int = 150
    serve_refresh_seconds: float = 2.0
    serve_workers: int = len(os.sched_getaffinity(0))
    serve_max_texts: int = 1000
    serve_max_concurrency: int = 32
    serve_timeout_seconds: float = 10.0

    @property
    def warehouse_path(self) -> Path:
        return self.home / "warehouse.duckdb"

    @property
    def warehouse(self) -> str:
        """The warehouse: the DuckDB file under the home (one writer at a time), or a PostgreSQL URL
        that concurrent runs on several machines write to."""
        return self.warehouse_store or str(self.warehouse_path)

    @property
    def mlflow_tracking_uri(self) -> str:
        """MLflow's tracking and registry URI: a SQLite file, a database server (``postgresql://``)
        or an ``mlflow server`` (``http://``)."""
        return self.mlflow_store or f"sqlite:///{self.home / 'mlflow' / 'mlflow.db'}"

    @property
    def mlflow_artifacts(self) -> str | None:
        """Where a new experiment keeps its artifacts (a folder or a URI such as ``s3://``); None when
        an MLflow server holds them (``mlflow server --serve-artifacts``) and nothing says otherwise."""
        if self.mlflow_artifacts_store:
            return self.mlflow_artifacts_store
        if self.mlflow_tracking_uri.startswith(("http://", "https://")):
            return None
        return str(self.home / "mlflow" / "artifacts")

    @property
    def feast_dir(self) -> Path:
        return self.home / "feast"

    @property
    def optuna_storage(self) -> str:
        """Optuna's storage URL: a SQLite file, or a database server every tuning worker reaches."""
        return self.optuna_store or f"sqlite:///{self.home / 'optuna.db'}"

    @property
    def celery_backend(self) -> str:
        """Where Celery workers leave step results: the broker's Redis unless set apart."""
        return self.celery_backend_store or self.celery_broker

    @property
    def reports_dir(self) -> Path:
        return self.home / "reports"

    @property
    def records_dir(self) -> Path:
        return self.home / "records"


def _path(value: str) -> Path:
    return Path(value).expanduser().resolve()


def sqlite_file(url: str) -> Path | None:
    """The file behind a SQLite URL (MLflow's and Optuna's are SQLAlchemy URLs); None for a server.

    A SQLite store is a file the platform creates folders for and may move with the home; a server's
    store is neither.
    """
    if not url.startswith("sqlite"):  # sqlite:/// or sqlite+pysqlite:///
        return None
    from sqlalchemy.engine import make_url  # MLflow's and Optuna's own URL parser

    database = make_url(url).database
    return Path(database) if database and database != ":memory:" else None


class SettingsError(ValueError):
    """An environment variable the platform cannot work with; the message names it and the rule."""


# The store settings: environment variable -> field. Unset or empty keeps the embedded default.
STORES = {
    "TAGIFAI_MLFLOW_TRACKING_URI": "mlflow_store",
    "TAGIFAI_MLFLOW_ARTIFACTS": "mlflow_artifacts_store",
    "TAGIFAI_OPTUNA_STORAGE": "optuna_store",
    "TAGIFAI_WAREHOUSE": "warehouse_store",
    "TAGIFAI_FEAST_REGISTRY": "feast_registry",
    "TAGIFAI_FEAST_ONLINE_STORE": "feast_online_store",
    "TAGIFAI_CELERY_BROKER": "celery_broker",
    "TAGIFAI_CELERY_BACKEND": "celery_backend_store",
}

# The numeric settings: environment variable -> (field, type, smallest allowed value). A refresh
# interval of 0 would spin a core, a worker count of 0 would serve nothing: each has a floor.
NUMBERS = {
    "TAGIFAI_TUNING_TRIALS": ("tuning_trials", int, 1),
    "TAGIFAI_TUNING_WORKERS": ("tuning_workers", int, 1),
    "TAGIFAI_PROMOTION_MARGIN": ("promotion_margin", float, 0.0),
    "TAGIFAI_NON_INFERIORITY_MARGIN": ("non_inferiority_margin", float, 0.0),
    "TAGIFAI_GATE_CONFIDENCE": ("gate_confidence", float, 0.5),
    "TAGIFAI_GATE_RESAMPLES": ("gate_resamples", int, 100),
    "TAGIFAI_SLICE_TOLERANCE": ("slice_tolerance", float, 0.0),
    "TAGIFAI_QUALITY_FLOOR": ("quality_floor", float, 0.0),
    "TAGIFAI_MONITORING_WINDOW_HOURS": ("monitoring_window_hours", float, 0.01),
    "TAGIFAI_MONITORING_MIN_WINDOW": ("monitoring_min_window", int, 1),
    "TAGIFAI_MIN_LIVE_LABELS": ("min_live_labels", int, 1),
    "TAGIFAI_LABEL_DELAY_HOURS": ("label_delay_hours", float, 0.0),
    "TAGIFAI_DRIFT_PERSISTENCE": ("drift_persistence", int, 1),
    "TAGIFAI_ESTIMATED_F1_DROP": ("estimated_f1_drop", float, 0.0),
    "TAGIFAI_MIN_NEW_LABELS": ("min_new_labels", int, 1),
    "TAGIFAI_SERVE_REFRESH_SECONDS": ("serve_refresh_seconds", float, 0.1),
    "TAGIFAI_SERVE_WORKERS": ("serve_workers", int, 1),
    "TAGIFAI_SERVE_MAX_TEXTS": ("serve_max_texts", int, 1),
    "TAGIFAI_SERVE_MAX_CONCURRENCY": ("serve_max_concurrency", int, 1),
    "TAGIFAI_SERVE_TIMEOUT_SECONDS": ("serve_timeout_seconds", float, 0.1),
}


def _number(env, variable: str, kind: type, minimum: float) -> int | float:
    text = env[variable].strip()
    try:
        value = kind(text)
    except ValueError:
        raise SettingsError(
            f"{variable}={text!r} is not {'an integer' if kind is int else 'a number'}"
        ) from None
    if not value >= minimum:  # also refuses nan
        raise SettingsError(f"{variable}={text!r} must be at least {minimum}")
    return value


def load_settings(environ: dict[str, str] | None = None) -> Settings:
    """The settings from ``environ`` (the process environment by default); a bad value raises
    :class:`SettingsError` here, before anything starts, rather than misbehaving later."""
    env = os.environ if environ is None else environ
    home = _path(env.get("TAGIFAI_HOME") or str(PROJECT_ROOT / ".tagifai"))
    numbers = {
        field: _number(env, variable, kind, minimum)
        for variable, (field, kind, minimum) in NUMBERS.items()
        if env.get(variable, "").strip()
    }
    return Settings(
        home=home,
        source=env.get("TAGIFAI_SOURCE") or DEFAULT_SOURCE,
        landing=_path(env["TAGIFAI_LANDING"]) if env.get("TAGIFAI_LANDING") else home / "landing",
        dagster_home=_path(env["DAGSTER_HOME"]) if env.get("DAGSTER_HOME") else home / "dagster",
        executor=env.get("TAGIFAI_EXECUTOR") or Settings.executor,
        **{
            field: env[variable].strip()
            for variable, field in STORES.items()
            if env.get(variable, "").strip()
        },
        **numbers,
    )


def quiet_libraries() -> None:
    """Switch off the usage reporting of GX, Feast, MLflow and Dagster for this process and its children."""
    for key, value in QUIET_LIBRARIES.items():
        os.environ.setdefault(key, value)
