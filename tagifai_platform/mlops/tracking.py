"""What the MLOps assets write to MLflow besides the model: one nested run per Optuna trial.

Plus the clean-up of what a dead run leaves: its MLflow run, and any nested run, still RUNNING.
"""

import hashlib
from collections.abc import Callable
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
    """A hash of the rows a model was trained on: same data, same fingerprint.

    pandas hashes each row in C (seeded, so the same on every machine): writing the rows as CSV to
    hash them took 10 s at a million projects, and a run fingerprints its training set twice.
    """
    rows = frame[["id", "tag", "text"]].sort_values("id")
    return hashlib.sha256(pd.util.hash_pandas_object(rows, index=False).to_numpy().tobytes()).hexdigest()[:16]


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


DAGSTER_RUN_TAG = "dagster_run_id"  # set by dagster-mlflow on the run it starts for a Dagster run
PARENT_RUN_TAG = "mlflow.parentRunId"


def end_orphaned_runs(client, experiment_id: str, dagster_run_over: Callable[[str], bool]) -> list[str]:
    """End as KILLED the MLflow runs left RUNNING by a Dagster run that is over, nested runs included.

    A run worker that is killed never ends its MLflow run, which then shows as live in the MLflow
    UI for ever. ``dagster_run_over`` says whether a Dagster run id names a finished run (failed,
    canceled or succeeded); the MLflow runs of a Dagster run still in progress are left alone.
    Returns the ids of the MLflow runs ended.
    """
    running = client.search_runs([experiment_id], filter_string="attributes.status = 'RUNNING'")

    def owner(run) -> str | None:
        """The Dagster run id of an MLflow run, or of the run it is nested in."""
        parent = run.data.tags.get(PARENT_RUN_TAG)
        return run.data.tags.get(DAGSTER_RUN_TAG) or (owner(client.get_run(parent)) if parent else None)

    orphans = [
        run.info.run_id for run in running if (dagster_run := owner(run)) and dagster_run_over(dagster_run)
    ]
    for run_id in orphans:
        client.set_terminated(run_id, status="KILLED")
    return orphans
