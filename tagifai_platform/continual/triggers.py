"""The loop's triggers: a schedule runs monitoring; a failed monitoring check starts the policy engine."""

import dagster as dg

from tagifai_platform.continual.assets import monitoring_report
from tagifai_platform.continual.policy_engine import policy_engine

monitoring_job = dg.define_asset_job(
    "monitor",
    selection=dg.AssetSelection.assets(monitoring_report),
    description="Compare the champion's recent predictions with its training reference.",
    # A monitoring run takes seconds; one that hangs (a locked store) is stopped before the next
    # hourly tick queues behind it. Run monitoring enforces the tag (dagster.yaml).
    tags={"dagster/max_runtime": str(30 * 60)},
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
    """Launch the policy engine once for each monitoring run in which a threshold check failed."""
    evaluations = context.instance.all_logs(
        context.dagster_run.run_id, of_type=dg.DagsterEventType.ASSET_CHECK_EVALUATION
    )
    failed = sorted(
        {
            event.dagster_event.event_specific_data.check_name
            for event in evaluations
            if not event.dagster_event.event_specific_data.passed
        }
    )
    if not failed:
        return dg.SkipReason(f"Monitoring run {context.dagster_run.run_id} raised no alert.")
    return dg.RunRequest(run_key=context.dagster_run.run_id, tags={"tagifai/failed_checks": ",".join(failed)})
