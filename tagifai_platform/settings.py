"""The one place that reads the environment.

Every tunable has a laptop-friendly default and all state lives under ``TAGIFAI_HOME`` so that
deleting that folder is a clean start. Other modules ask for a :class:`Settings` instead of
reading ``os.environ`` themselves, which keeps tests free to point a run at a temporary home.
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
    tuning_trials: int = 12
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
    serve_refresh_seconds: float = 2.0
    serve_workers: int = len(os.sched_getaffinity(0))
    serve_max_texts: int = 1000
    serve_max_concurrency: int = 32
    serve_timeout_seconds: float = 10.0

    @property
    def warehouse_path(self) -> Path:
        return self.home / "warehouse.duckdb"

    @property
    def mlflow_tracking_uri(self) -> str:
        return f"sqlite:///{self.home / 'mlflow' / 'mlflow.db'}"

    @property
    def mlflow_artifacts(self) -> Path:
        return self.home / "mlflow" / "artifacts"

    @property
    def feast_dir(self) -> Path:
        return self.home / "feast"

    @property
    def optuna_storage(self) -> str:
        return f"sqlite:///{self.home / 'optuna.db'}"

    @property
    def reports_dir(self) -> Path:
        return self.home / "reports"

    @property
    def records_dir(self) -> Path:
        return self.home / "records"


def _path(value: str) -> Path:
    return Path(value).expanduser().resolve()


class SettingsError(ValueError):
    """An environment variable the platform cannot work with; the message names it and the rule."""


# The numeric settings: environment variable -> (field, type, smallest allowed value). A refresh
# interval of 0 would spin a core, a worker count of 0 would serve nothing: each has a floor.
NUMBERS = {
    "TAGIFAI_TUNING_TRIALS": ("tuning_trials", int, 1),
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
        **numbers,
    )


def quiet_libraries() -> None:
    """Switch off the usage reporting of GX, Feast, MLflow and Dagster for this process and its children."""
    for key, value in QUIET_LIBRARIES.items():
        os.environ.setdefault(key, value)
