"""The loop's triggers: a schedule runs monitoring; a failed monitoring check starts the policy
engine; the engine's request to retrain or roll back starts a run of the model's assets; a request
whose run failed is marked failed in the decision log.

The retrain and set_champion jobs select the model's assets by key: they are the MLOps domain's
assets, run with the configuration the policy engine (or a person) gives.
"""

import dagster as dg

from tagifai_platform.continual.assets import monitoring_report
from tagifai_platform.continual.policy_engine import RUN_REQUEST, policy_engine
from tagifai_platform.continual.resources import DecisionLog

DECIDED_IN = "tagifai/decided_in"
# The gate's blocking check: a retraining it refused was carried out, and spends the cooldown.
GATE_CHECK = "challenger_beats_champion"

monitoring_job = dg.define_asset_job(
    "monitor",
    selection=dg.AssetSelection.assets(monitoring_report),
    description="Compare the champion's recent predictions with its own reference.",
    # A monitoring run takes seconds; one that hangs (a locked store) is stopped before the next
    # hourly tick queues behind it. Run monitoring enforces the tag (dagster.yaml).
    tags={"dagster/max_runtime": str(30 * 60)},
)

retrain_job = dg.define_asset_job(
    "retrain",
    selection=dg.AssetSelection.assets(
        "training_dataset",
        "best_hyperparameters",
        "challenger_model",
        "model_evaluation",
        "regression_report",
        "champion_model",
    ),
    description=(
        "Retrain from the champion's data plus everything labeled since, through the same gate "
        "(run config: training_dataset retraining: true, reasons)."
    ),
)

set_champion_job = dg.define_asset_job(
    "set_champion",
    selection=dg.AssetSelection.assets("champion_model"),
    description=(
        "Move the champion back or pin a version (run config: champion_model action rollback|pin, "
        "version, reasons); `tagifai rollback [--to VERSION]` runs it."
    ),
)

monitoring_schedule = dg.ScheduleDefinition(
    name="monitoring_schedule",
    job=monitoring_job,
    cron_schedule="0 * * * *",
    default_status=dg.DefaultScheduleStatus.RUNNING,
)


@dg.run_status_sensor(
    run_status=dg.DagsterRunStatus.SUCCESS,
    monitored_jobs=[monitoring_job],
    request_job=policy_engine,
    default_status=dg.DefaultSensorStatus.RUNNING,
)
def monitoring_alerts(context: dg.RunStatusSensorContext):
    """Launch the policy engine once for each monitoring run in which a threshold check failed,
    to decide on that run's report."""
    run_id = context.dagster_run.run_id
    evaluations = context.instance.all_logs(run_id, of_type=dg.DagsterEventType.ASSET_CHECK_EVALUATION)
    failed = sorted(
        {
            event.dagster_event.event_specific_data.check_name
            for event in evaluations
            if not event.dagster_event.event_specific_data.passed
        }
    )
    if not failed:
        return dg.SkipReason(f"Monitoring run {run_id} raised no alert.")
    return dg.RunRequest(
        run_key=run_id,
        run_config={"ops": {"monitoring": {"config": {"report_run_id": run_id}}}},
        tags={"tagifai/failed_checks": ",".join(failed), "tagifai/report_run": run_id},
    )


@dg.run_status_sensor(
    run_status=dg.DagsterRunStatus.SUCCESS,
    monitored_jobs=[policy_engine],
    request_jobs=[retrain_job, set_champion_job],
    default_status=dg.DefaultSensorStatus.RUNNING,
)
def policy_actions(context: dg.RunStatusSensorContext):
    """Launch the retraining or rollback a policy engine run asked for, once."""
    run_id = context.dagster_run.run_id
    outputs = context.instance.all_logs(run_id, of_type=dg.DagsterEventType.STEP_OUTPUT)
    requests = [
        entry.value
        for event in outputs
        for key, entry in event.dagster_event.event_specific_data.metadata.items()
        if key == RUN_REQUEST
    ]
    if not requests:
        return dg.SkipReason(f"Policy engine run {run_id} asked for no change to the model.")
    (request,) = requests
    return dg.RunRequest(
        run_key=run_id,
        job_name=request["job"],
        run_config=request["run_config"],
        tags={DECIDED_IN: run_id},
    )


@dg.run_failure_sensor(
    monitored_jobs=[retrain_job, set_champion_job],
    default_status=dg.DefaultSensorStatus.RUNNING,
)
def failed_actions(context: dg.RunFailureSensorContext, decision_log: DecisionLog):
    """Record that the retraining or rollback a decision asked for failed, so it spends no cooldown.

    An annotated file that could not be read, nothing new to learn from, a crash: the next
    alerting window may ask again. A challenger the gate refused is not a failure of the action
    (the retraining was done, and found nothing better), so that one keeps its cooldown.
    """
    from tagifai_platform.monitoring.policy import FAILED  # scipy and sklearn: not at every load

    run = context.dagster_run
    decided_in = run.tags.get(DECIDED_IN)
    if decided_in is None:
        return dg.SkipReason(f"Run {run.run_id} was not asked for by the policy engine.")
    checks = context.instance.all_logs(run.run_id, of_type=dg.DagsterEventType.ASSET_CHECK_EVALUATION)
    verdicts = [event.dagster_event.event_specific_data for event in checks]
    if any(verdict.check_name == GATE_CHECK and not verdict.passed for verdict in verdicts):
        return dg.SkipReason(f"Run {run.run_id} retrained and the gate refused the challenger.")
    records = decision_log.records()
    if any(r.get("failed_run") == run.run_id for r in records):
        return dg.SkipReason(f"Run {run.run_id} is already recorded as failed.")
    decided = [r for r in records if r.get("dagster_run_id") == decided_in and r.get("outcome") is None]
    if not decided:
        return dg.SkipReason(f"No decision of run {decided_in} in the decision log.")
    decision_log.append(
        {**decided[-1], "outcome": FAILED, "failed_run": run.run_id, "failure": context.failure_event.message}
    )
    context.log.info(f"The {decided[-1]['action']} decided in run {decided_in} failed in run {run.run_id}.")
    return None
