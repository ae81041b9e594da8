"""What the MLOps assets write to MLflow besides the model: one nested run per Optuna trial."""

import hashlib
from contextlib import contextmanager

import pandas as pd


def log_trial(mlflow, study, trial) -> None:
    """An Optuna callback body: record a finished trial as a nested run of the Dagster run's MLflow run."""
    with mlflow.start_run(run_name=f"trial-{trial.number}", nested=True):
        mlflow.log_params(trial.params)
        mlflow.set_tags({"optuna_study": study.study_name, "optuna_state": trial.state.name})
        if trial.value is not None:
            mlflow.log_metric("validation_f1", trial.value)
        for step, value in trial.intermediate_values.items():
            mlflow.log_metric("validation_f1_intermediate", value, step=step)


def data_fingerprint(frame: pd.DataFrame) -> str:
    """A hash of the rows a model was trained on: same data, same fingerprint."""
    rows = frame.sort_values("id")[["id", "tag", "text"]].to_csv(index=False).encode()
    return hashlib.sha256(rows).hexdigest()[:16]


@contextmanager
def mlflow_step(mlflow):
    """Work inside the Dagster run's MLflow run, and close it after; the next step resumes it.

    dagster-mlflow's own hook only closes the run after the job's last node, which never runs
    when the gate refuses a challenger, and attaching it loads MLflow into every step.
    """
    if mlflow.active_run() is None:
        mlflow.start_run(run_id=mlflow.mlflow_run_id)
    try:
        yield mlflow
    except BaseException:
        mlflow.end_run(status="FAILED")
        raise
    mlflow.end_run()
