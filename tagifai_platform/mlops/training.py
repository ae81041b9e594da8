"""Tuning and training assets: an Optuna study that resumes, and the challenger it produces."""

from typing import Any

import dagster as dg
import pandas as pd

from tagifai_platform.mlops.features import GROUP
from tagifai_platform.mlops.resources import ModelRegistryResource, TuningStudies, mlflow_step
from tagifai_platform.mlops.tracking import data_fingerprint, log_trial
from tagifai_platform.version import code_version

STUDY_NAME = "tagifai"
DOCUMENTS = "documents"


class TuningConfig(dg.Config):
    n_trials: int | None = None  # None: TAGIFAI_TUNING_TRIALS


def splits_of(training_dataset: pd.DataFrame):
    from tagifai_platform.ml.splits import Splits

    parts = {
        name: part.drop(columns=["split"]).reset_index(drop=True)
        for name, part in training_dataset.groupby("split")
    }
    return Splits(train=parts["train"], validation=parts["validation"], test=parts["test"])


@dg.asset(group_name=GROUP, io_manager_key=DOCUMENTS, kinds={"optuna", "mlflow"})
def best_hyperparameters(
    context: dg.AssetExecutionContext,
    config: TuningConfig,
    training_dataset: pd.DataFrame,
    studies: TuningStudies,
    mlflow: dg.ResourceParam[Any],
) -> dg.Output[dict]:
    """The best parameters of the persisted study after this run's trials (a rerun continues it)."""
    import optuna

    from tagifai_platform.ml.tuning import best_params_or_default, default_trial_params, objective

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    splits = splits_of(training_dataset)
    study = studies.study(STUDY_NAME)
    earlier = len(study.trials)
    if earlier == 0:  # the known-good defaults go first, so tuning can only improve on them
        study.enqueue_trial(default_trial_params())
    n_trials = config.n_trials or studies.trials
    with mlflow_step(mlflow):
        study.optimize(
            lambda trial: objective(trial, splits),
            n_trials=n_trials,
            callbacks=[lambda study, trial: log_trial(mlflow, study, trial)],
        )
    params = best_params_or_default(study)
    best = study.best_trial if study.best_trials else None
    states = pd.Series([trial.state.name for trial in study.trials]).value_counts().to_dict()
    context.log.info(f"Study {STUDY_NAME}: {earlier} earlier trials, {n_trials} new")
    return dg.Output(
        {"params": params, "cv_f1": best.value if best else None, "trial": best.number if best else None},
        metadata={
            "trials_total": len(study.trials),
            "trials_this_run": n_trials,
            "trials_before": earlier,
            "trial_states": dg.MetadataValue.json(states),
            "best_cv_f1": best.value if best else None,
            "best_params": dg.MetadataValue.json(params),
        },
    )


@dg.asset(group_name=GROUP, io_manager_key=DOCUMENTS, kinds={"sklearn", "mlflow"})
def challenger_model(
    context: dg.AssetExecutionContext,
    training_dataset: pd.DataFrame,
    best_hyperparameters: dict,
    mlflow: dg.ResourceParam[Any],
    model_registry: ModelRegistryResource,
) -> dg.Output[dict]:
    """A model trained with the best parameters, logged to MLflow and registered as ``challenger``."""
    import mlflow.sklearn as mlflow_sklearn

    from tagifai_platform.ml.evaluation import evaluate
    from tagifai_platform.ml.model import train_model

    splits = splits_of(training_dataset)
    params = best_hyperparameters["params"]
    model = train_model(params, splits.train, splits.validation)
    validation = evaluate(model, splits.validation)["overall"]
    fingerprint = data_fingerprint(training_dataset)

    with mlflow_step(mlflow):
        mlflow.log_params({f"model.{key}": value for key, value in params.items()})
        mlflow.log_metrics(
            {f"validation_{key}": value for key, value in validation.items() if isinstance(value, float)}
        )
        info = mlflow_sklearn.log_model(model, name="model", serialization_format="cloudpickle")
        run_id = mlflow.active_run().info.run_id
    version = model_registry.registry.register(
        info.model_uri,
        run_id=run_id,
        tags={
            "dagster_run_id": context.run_id,
            "data_fingerprint": fingerprint,
            "params": params,
            "threshold": model.threshold,
            "code_version": code_version(),
            "train_rows": len(splits.train),
        },
    )
    return dg.Output(
        {
            "version": version.version,
            "model_uri": info.model_uri,
            "run_id": version.run_id,
            "threshold": model.threshold,
            "data_fingerprint": fingerprint,
            "validation": validation,
        },
        metadata={
            "version": version.version,
            "threshold": model.threshold,
            "data_fingerprint": fingerprint,
            "validation_f1": validation["f1"],
            "mlflow_run_id": version.run_id or "",
        },
    )
