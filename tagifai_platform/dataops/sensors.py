"""The landing sensor: every new or changed batch in TAGIFAI_LANDING is ingested exactly once."""

import json
from pathlib import Path

import dagster as dg

from tagifai_platform.data.batches import find_batches
from tagifai_platform.dataops.jobs import ingest_batch_job
from tagifai_platform.dataops.partitions import batches
from tagifai_platform.dataops.resources import ProjectSource

FINGERPRINT_TAG = "tagifai/batch_fingerprint"


@dg.sensor(job=ingest_batch_job, minimum_interval_seconds=30, default_status=dg.DefaultSensorStatus.RUNNING)
def landing_batches(context: dg.SensorEvaluationContext, source: ProjectSource) -> dg.SensorResult:
    """Request a run for each batch whose files changed since the last tick.

    The cursor maps each batch to the fingerprint of the files last requested, so re-dropping
    identical files does nothing while a changed file re-ingests its partition. The run key
    (batch and fingerprint) lets Dagster drop a duplicate request should the cursor be reset.
    """
    seen: dict[str, str] = json.loads(context.cursor) if context.cursor else {}
    complete, waiting = find_batches(Path(source.landing))
    known = set(context.instance.get_dynamic_partitions(batches.name))
    requests, new_keys = [], []
    for batch in complete:
        fingerprint = batch.fingerprint()
        if seen.get(batch.key) == fingerprint:
            continue
        seen[batch.key] = fingerprint
        if batch.key not in known:
            new_keys.append(batch.key)
        requests.append(
            dg.RunRequest(
                run_key=f"{batch.key}:{fingerprint}",
                partition_key=batch.key,
                tags={FINGERPRINT_TAG: fingerprint},
            )
        )
    skip_reason = None
    if not requests:
        skip_reason = f"No new or changed batch in {source.landing}."
        if waiting:
            skip_reason += f" Waiting for the other file of batches {waiting}."
    return dg.SensorResult(
        run_requests=requests,
        skip_reason=skip_reason,
        cursor=json.dumps(seen, sort_keys=True),
        dynamic_partitions_requests=[batches.build_add_request(new_keys)] if new_keys else [],
    )
