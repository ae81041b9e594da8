"""The landing sensor: every batch whose files differ from what was last ingested is ingested.

What decides is the fingerprint recorded on the batch's latest ``raw_projects`` materialization,
that is, the files a run actually read, not the ones a sensor once requested: reverting a file to
earlier content ingests it again. A run that failed on its checks is not repeated for the same
files (it would fail the same way); one that failed for another reason (a file being copied, a
killed process) is requested again, up to ``MAX_ATTEMPTS`` times for the same files.
"""

from pathlib import Path

import dagster as dg
from dagster._core.storage.asset_check_execution_record import AssetCheckExecutionRecordStatus

from tagifai_platform.data.batches import Batch, scan_landing
from tagifai_platform.dataops.assets import FINGERPRINT
from tagifai_platform.dataops.jobs import ingest_batch_job
from tagifai_platform.dataops.resources import ProjectSource
from tagifai_platform.shared import batches

FINGERPRINT_TAG = "tagifai/batch_fingerprint"
PARTITION_TAG = "dagster/partition"
MAX_ATTEMPTS = 3
_IN_FLIGHT = {
    dg.DagsterRunStatus.QUEUED,
    dg.DagsterRunStatus.NOT_STARTED,
    dg.DagsterRunStatus.STARTING,
    dg.DagsterRunStatus.STARTED,
}
_HOLDOUT_AUDIT = dg.AssetCheckKey(dg.AssetKey("holdout_projects"), "holdout_projects_suite")


def ingested_fingerprint(instance: dg.DagsterInstance, batch: str) -> tuple[str, str] | None:
    """(fingerprint, run id) of the files behind the batch's latest raw materialization."""
    records = instance.fetch_materializations(
        dg.AssetRecordsFilter(asset_key=dg.AssetKey("raw_projects"), asset_partitions=[batch]), limit=1
    ).records
    if not records:
        return None
    entry = records[0].asset_materialization.metadata.get(FINGERPRINT)
    return (entry.value if entry else None), records[0].run_id


def failed_on_checks(instance: dg.DagsterInstance, run_id: str) -> bool:
    evaluations = instance.all_logs(run_id, of_type=dg.DagsterEventType.ASSET_CHECK_EVALUATION)
    return any(not event.dagster_event.event_specific_data.passed for event in evaluations)


def holdout_published(instance: dg.DagsterInstance) -> bool:
    passed = instance.event_log_storage.get_asset_check_execution_history(
        _HOLDOUT_AUDIT, limit=1, status={AssetCheckExecutionRecordStatus.SUCCEEDED}
    )
    return bool(passed)


def next_request(instance: dg.DagsterInstance, batch: Batch) -> dg.RunRequest | str | None:
    """A run request for ``batch``, None when it needs none, or why it is held back."""
    fingerprint = batch.fingerprint()
    ingested = ingested_fingerprint(instance, batch.key)
    if ingested is not None and ingested[0] == fingerprint:
        run = instance.get_run_by_id(ingested[1])
        if run is None or run.status in _IN_FLIGHT | {dg.DagsterRunStatus.SUCCESS}:
            return None
        if failed_on_checks(instance, run.run_id):
            return None  # the data is wrong: the same files would fail again
    runs = instance.get_runs(
        dg.RunsFilter(
            job_name=ingest_batch_job.name, tags={PARTITION_TAG: batch.key, FINGERPRINT_TAG: fingerprint}
        )
    )
    if any(run.status in _IN_FLIGHT for run in runs):
        return None
    since = [run for run in runs if ingested is None or run.run_id != ingested[1]]
    failed = [
        run
        for run in since
        if run.status != dg.DagsterRunStatus.SUCCESS and not failed_on_checks(instance, run.run_id)
    ]
    if len(failed) >= MAX_ATTEMPTS:
        return (
            f"batch {batch.key!r}: {len(failed)} runs for these files failed without a data problem "
            f"(last: {failed[0].run_id}); fix the cause, then run ingest_batch for it or drop the files anew"
        )
    return dg.RunRequest(
        run_key=f"{batch.key}:{fingerprint}:{len(runs) + 1}",
        partition_key=batch.key,
        tags={FINGERPRINT_TAG: fingerprint},
    )


@dg.sensor(job=ingest_batch_job, minimum_interval_seconds=30, default_status=dg.DefaultSensorStatus.RUNNING)
def landing_batches(context: dg.SensorEvaluationContext, source: ProjectSource) -> dg.SensorResult:
    """Request a run for each batch in TAGIFAI_LANDING that is new, changed, or failed transiently.

    Ambiguous and ignored files, and batches that wait, are listed in the tick, so a user who
    dropped a file sees why nothing happened.
    """
    landing = scan_landing(Path(source.landing))
    notes = landing.problems()
    requests, new_keys = [], []
    if landing.complete and not holdout_published(context.instance):
        notes.append(
            f"{len(landing.complete)} batches wait for the holdout: run the dataops job first, so that "
            "every batch can be checked against it"
        )
    else:
        known = set(context.instance.get_dynamic_partitions(batches.name))
        for batch in landing.complete:
            request = next_request(context.instance, batch)
            if isinstance(request, str):
                notes.append(request)
            elif request is not None:
                requests.append(request)
                if batch.key not in known:
                    new_keys.append(batch.key)
    for note in notes:
        context.log.warning(note)
    skip_reason = None
    if not requests:
        skip_reason = "; ".join([f"No new or changed batch in {source.landing}", *notes]) + "."
    return dg.SensorResult(
        run_requests=requests,
        skip_reason=skip_reason,
        dynamic_partitions_requests=[batches.build_add_request(new_keys)] if new_keys else [],
    )
