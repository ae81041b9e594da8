"""Settings: every default in one place, and a bad value refused with its name before anything starts."""

import pytest

from tagifai_platform.settings import NUMBERS, Settings, SettingsError, load_settings, sqlite_file


def test_defaults_come_from_the_settings_class(tmp_path):
    settings = load_settings({"TAGIFAI_HOME": str(tmp_path)})
    for field, _, _ in NUMBERS.values():
        assert getattr(settings, field) == getattr(Settings, field), field
    assert settings.executor == Settings.executor and settings.serve_workers >= 1


def test_numbers_are_read_and_blank_means_default(tmp_path):
    settings = load_settings(
        {"TAGIFAI_HOME": str(tmp_path), "TAGIFAI_SERVE_WORKERS": " 3 ", "TAGIFAI_SERVE_REFRESH_SECONDS": ""}
    )
    assert settings.serve_workers == 3 and settings.serve_refresh_seconds == Settings.serve_refresh_seconds


@pytest.mark.parametrize(
    "variable, value, message",
    [
        ("TAGIFAI_SERVE_REFRESH_SECONDS", "0", "must be at least 0.1"),  # 0 would spin a core
        ("TAGIFAI_SERVE_REFRESH_SECONDS", "nan", "must be at least"),
        ("TAGIFAI_SERVE_WORKERS", "two", "is not an integer"),
        ("TAGIFAI_SERVE_MAX_TEXTS", "0", "must be at least 1"),
        ("TAGIFAI_SERVE_TIMEOUT_SECONDS", "-1", "must be at least"),
        ("TAGIFAI_TUNING_TRIALS", "1.5", "is not an integer"),
    ],
)
def test_a_bad_value_is_refused_with_its_name(tmp_path, variable, value, message):
    with pytest.raises(SettingsError, match=f"{variable}=.*{message}"):
        load_settings({"TAGIFAI_HOME": str(tmp_path), variable: value})


def test_stores_are_files_under_the_home_unless_a_url_is_set(tmp_path):
    laptop = load_settings({"TAGIFAI_HOME": str(tmp_path)})
    assert sqlite_file(laptop.mlflow_tracking_uri) == tmp_path / "mlflow" / "mlflow.db"
    assert sqlite_file(laptop.optuna_storage) == tmp_path / "optuna.db"
    assert laptop.mlflow_artifacts == str(tmp_path / "mlflow" / "artifacts")
    assert laptop.celery_backend == laptop.celery_broker
    assert laptop.warehouse == str(tmp_path / "warehouse.duckdb")

    shared = load_settings(
        {
            "TAGIFAI_HOME": str(tmp_path),
            "TAGIFAI_MLFLOW_TRACKING_URI": "http://127.0.0.1:5000",
            "TAGIFAI_OPTUNA_STORAGE": "postgresql+psycopg2://tuner@127.0.0.1:5432/optuna",
            "TAGIFAI_CELERY_BROKER": "redis://127.0.0.1:6380/0",
            "TAGIFAI_WAREHOUSE": "postgresql://loader@127.0.0.1:5432/warehouse",
        }
    )
    assert shared.warehouse == "postgresql://loader@127.0.0.1:5432/warehouse"
    assert shared.mlflow_tracking_uri == "http://127.0.0.1:5000"
    assert shared.mlflow_artifacts is None, "an MLflow server keeps its own artifacts"
    assert sqlite_file(shared.optuna_storage) is None and sqlite_file(shared.mlflow_tracking_uri) is None
    assert shared.celery_backend == "redis://127.0.0.1:6380/0"
    database = load_settings(
        {"TAGIFAI_HOME": str(tmp_path), "TAGIFAI_MLFLOW_TRACKING_URI": "postgresql://u@h/mlflow"}
    )
    assert database.mlflow_artifacts == str(tmp_path / "mlflow" / "artifacts")
