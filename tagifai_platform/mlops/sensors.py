"""The MLOps domain's sensors: the automation that refreshes the features and the training set, and
the daemon's clean-up after a dead run (MLflow runs it left RUNNING are ended)."""

import dagster as dg

from tagifai_platform.mlops.tracking import end_orphaned_runs
from tagifai_platform.registry import EXPERIMENT_NAME
from tagifai_platform.shared import ModelRegistryResource


@dg.sensor(minimum_interval_seconds=60, default_status=dg.DefaultSensorStatus.RUNNING)
def orphaned_mlflow_runs(
    context: dg.SensorEvaluationContext, model_registry: ModelRegistryResource
) -> dg.SkipReason:
    """End the MLflow runs still RUNNING whose Dagster run is over (failed, canceled or succeeded).

    A run whose process was killed is failed by run monitoring, but its MLflow run (and a trial's
    nested run) would stay live in the MLflow UI. The sensor looks at the store on every tick
    rather than at failure events, so a run found dead before the daemon started is cleaned too.
    """
    registry = model_registry.registry
    if not registry.exists():
        return dg.SkipReason("No MLflow store yet.")
    experiment = registry.client.get_experiment_by_name(EXPERIMENT_NAME)
    if experiment is None:
        return dg.SkipReason("No MLflow experiment yet.")

    def over(dagster_run_id: str) -> bool:
        run = context.instance.get_run_by_id(dagster_run_id)
        return run is not None and run.is_finished

    ended = end_orphaned_runs(registry.client, experiment.experiment_id, over)
    if not ended:
        return dg.SkipReason("No MLflow run left RUNNING by a finished Dagster run.")
    context.log.info(f"Ended as KILLED the MLflow runs {ended}")
    return dg.SkipReason(f"Ended {len(ended)} MLflow runs left RUNNING by finished Dagster runs: {ended}")


refresh_training_data = dg.AutomationConditionSensorDefinition(
    "refresh_training_data",
    target=dg.AssetSelection.assets("project_features", "training_dataset"),
    default_status=dg.DefaultSensorStatus.RUNNING,
    minimum_interval_seconds=30,
    description="Materializes the features and the training set when a batch passed its checks.",
)
