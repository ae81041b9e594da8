"""Resources and executor chosen from the settings: the only place that turns settings into I/O."""

import dagster as dg

from tagifai_platform.continual.resources import (
    DecisionLog,
    MonitoringPolicy,
    PredictionLogReader,
    StoredRecords,
)
from tagifai_platform.dataops.resources import ProjectSource
from tagifai_platform.io_managers import DocumentIOManager, WarehouseIOManager, WarehouseResource
from tagifai_platform.mlops.resources import (
    FeatureStore,
    PromotionPolicy,
    TuningStudies,
    mlflow_run,
)
from tagifai_platform.registry import EXPERIMENT_NAME
from tagifai_platform.serving.prediction_log import log_path
from tagifai_platform.settings import Settings
from tagifai_platform.shared import ExpectationsValidator, LabelingDesk, ModelRegistryResource, ReportStore


def _celery_executor(settings: Settings) -> dg.ExecutorDefinition:
    """Each step a task on the Redis broker, run by whichever Celery worker takes it (the workers load
    this code location with their own environment, so they must share these settings)."""
    from dagster_celery import celery_executor

    return celery_executor.configured({"broker": settings.celery_broker, "backend": settings.celery_backend})


EXECUTORS = {
    "in_process": lambda settings: dg.in_process_executor,
    "multiprocess": lambda settings: dg.multiprocess_executor,
    "celery": _celery_executor,
}


def build_resources(settings: Settings) -> dict:
    settings.home.mkdir(parents=True, exist_ok=True)  # DuckDB creates its file, not its folder
    registry = ModelRegistryResource(
        tracking_uri=settings.mlflow_tracking_uri, artifact_root=settings.mlflow_artifacts
    )
    return {
        "io_manager": WarehouseIOManager(database=settings.warehouse),
        "warehouse": WarehouseResource(database=settings.warehouse),
        "documents": DocumentIOManager(base_dir=str(settings.records_dir)),
        "source": ProjectSource(location=settings.source, landing=str(settings.landing)),
        "validator": ExpectationsValidator(),
        "features": FeatureStore(
            repo_dir=str(settings.feast_dir),
            registry=settings.feast_registry,
            online_store=settings.feast_online_store,
        ),
        "studies": TuningStudies(
            storage=settings.optuna_storage, trials=settings.tuning_trials, workers=settings.tuning_workers
        ),
        "model_registry": registry,
        "policy": PromotionPolicy(
            margin=settings.promotion_margin,
            slice_tolerance=settings.slice_tolerance,
            quality_floor=settings.quality_floor,
            non_inferiority_margin=settings.non_inferiority_margin,
            confidence=settings.gate_confidence,
            resamples=settings.gate_resamples,
        ),
        "reports": ReportStore(base_dir=str(settings.reports_dir)),
        "records": StoredRecords(documents=str(settings.records_dir)),
        "predictions": PredictionLogReader(path=str(log_path(settings))),
        "monitoring": MonitoringPolicy(
            window_hours=settings.monitoring_window_hours,
            min_window_size=settings.monitoring_min_window,
            min_labeled_rows=settings.min_live_labels,
            label_delay_hours=settings.label_delay_hours,
            estimated_f1_drop=settings.estimated_f1_drop,
            drift_persistence=settings.drift_persistence,
        ),
        "decision_log": DecisionLog(path=str(settings.home / "policy" / "decisions.jsonl")),
        "labeling": LabelingDesk(
            base_dir=str(settings.home / "labeling"), min_new_labels=settings.min_new_labels
        ),
        "mlflow": mlflow_run.configured(
            {"experiment_name": EXPERIMENT_NAME, "mlflow_tracking_uri": settings.mlflow_tracking_uri}
        ),
    }


def build_executor(settings: Settings) -> dg.ExecutorDefinition:
    try:
        choose = EXECUTORS[settings.executor]
    except KeyError:
        raise ValueError(
            f"TAGIFAI_EXECUTOR={settings.executor!r} is not one of {sorted(EXECUTORS)}."
        ) from None
    return choose(settings)
