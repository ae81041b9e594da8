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
}


@dataclass(frozen=True)
class Settings:
    home: Path
    source: str
    landing: Path
    executor: str
    tuning_trials: int = 12
    promotion_margin: float = 0.0
    slice_tolerance: float = 0.05
    quality_floor: float = 0.85
    monitoring_window_hours: float = 24.0
    monitoring_min_window: int = 50
    serve_refresh_seconds: float = 2.0

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


def load_settings(environ: dict[str, str] | None = None) -> Settings:
    env = os.environ if environ is None else environ
    home = _path(env.get("TAGIFAI_HOME") or str(PROJECT_ROOT / ".tagifai"))
    return Settings(
        home=home,
        source=env.get("TAGIFAI_SOURCE") or DEFAULT_SOURCE,
        landing=_path(env["TAGIFAI_LANDING"]) if env.get("TAGIFAI_LANDING") else home / "landing",
        executor=env.get("TAGIFAI_EXECUTOR", "in_process"),
        tuning_trials=int(env.get("TAGIFAI_TUNING_TRIALS", "12")),
        promotion_margin=float(env.get("TAGIFAI_PROMOTION_MARGIN", "0.0")),
        slice_tolerance=float(env.get("TAGIFAI_SLICE_TOLERANCE", "0.05")),
        quality_floor=float(env.get("TAGIFAI_QUALITY_FLOOR", "0.85")),
        monitoring_window_hours=float(env.get("TAGIFAI_MONITORING_WINDOW_HOURS", "24")),
        monitoring_min_window=int(env.get("TAGIFAI_MONITORING_MIN_WINDOW", "50")),
        serve_refresh_seconds=float(env.get("TAGIFAI_SERVE_REFRESH_SECONDS", "2")),
    )


def quiet_libraries() -> None:
    """Switch off the usage reporting of GX, Feast, MLflow and Dagster for this process and its children."""
    for key, value in QUIET_LIBRARIES.items():
        os.environ.setdefault(key, value)
