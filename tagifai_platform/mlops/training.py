"""Tuning and training assets: an Optuna study that resumes, and the challenger it produces."""

import functools
from typing import Any

import dagster as dg
import pandas as pd

from tagifai_platform.io_managers import WarehouseResource
from tagifai_platform.mlops import steps
from tagifai_platform.mlops.resources import TuningStudies
from tagifai_platform.shared import DOCUMENTS, MLOPS, ModelRegistryResource
from tagifai_platform.version import source_version

STUDY_NAME = "tagifai"
# Tuning and training share one pool; the instance gives it one slot (dagster.yaml `concurrency`).
TRAINING_POOL = "training"


class TuningConfig(dg.Config):
    n_trials: int | None = None  # None: TAGIFAI_TUNING_TRIALS


@dg.asset(
    group_name=MLOPS,
    io_manager_key=DOCUMENTS,
    kinds={"optuna", "mlflow"},
    pool=TRAINING_POOL,
    code_version=source_version("tagifai_platform.ml.tuning", "tagifai_platform.ml.model"),
)
def best_hyperparameters(
    context: dg.AssetExecutionContext,
    config: TuningConfig,
    training_dataset: pd.DataFrame,
    studies: TuningStudies,
    mlflow: dg.ResourceParam[Any],
) -> dg.Output[dict]:
    """The best parameters of the persisted study after this run's trials (a rerun continues it)."""
    n_trials = config.n_trials or studies.trials
    in_parallel = (
        functools.partial(studies.optimize_in_parallel, STUDY_NAME, workers=studies.workers)
        if studies.workers > 1
        else None
    )
    tuned = steps.tune(studies.study(STUDY_NAME), training_dataset, n_trials, mlflow, in_parallel)
    context.log.info(f"Study {STUDY_NAME}: {tuned['trials_before']} earlier trials, {n_trials} new")
    return dg.Output(
        {key: tuned[key] for key in ("params", "cv_f1", "trial")},
        metadata={
            "trials_total": tuned["trials_total"],
            "trials_this_run": n_trials,
            "trials_before": tuned["trials_before"],
            "trial_states": dg.MetadataValue.json(tuned["trial_states"]),
            "best_cv_f1": tuned["cv_f1"],
            "best_params": dg.MetadataValue.json(tuned["params"]),
        },
    )


@dg.asset(
    group_name=MLOPS,
    io_manager_key=DOCUMENTS,
    kinds={"sklearn", "mlflow"},
    pool=TRAINING_POOL,
    code_version=source_version("tagifai_platform.ml.model", "tagifai_platform.mlops.steps"),
)
def challenger_model(
    context: dg.AssetExecutionContext,
    training_dataset: pd.DataFrame,
    best_hyperparameters: dict,
    mlflow: dg.ResourceParam[Any],
    model_registry: ModelRegistryResource,
    warehouse: WarehouseResource,
) -> dg.Output[dict]:
    """A model trained with the best parameters, logged to MLflow and registered as ``challenger``.

    The registered version names the training set's version (the run that wrote it), which is how
    the champion's lineage reaches its data after any later retraining or rollback.
    """
    lineage = {
        "dagster_run_id": context.run.run_id,
        "training_dataset_version": warehouse.published_version("training_dataset"),
    }
    record = steps.train_and_register(
        training_dataset, best_hyperparameters["params"], model_registry.registry, mlflow, lineage
    )
    return dg.Output(
        {**record, **lineage},
        data_version=dg.DataVersion(f"v{record['version']}"),
        metadata={
            **lineage,
            "version": record["version"],
            "threshold": record["threshold"],
            "data_fingerprint": record["data_fingerprint"],
            "validation_f1": record["validation"]["f1"],
            "mlflow_run_id": record["run_id"],
        },
    )
