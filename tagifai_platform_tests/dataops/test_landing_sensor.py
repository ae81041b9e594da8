"""The landing sensor: one run request per new or changed batch, none for a re-dropped one."""

import dagster as dg

from tagifai_platform.dataops.partitions import batches
from tagifai_platform.dataops.resources import ProjectSource
from tagifai_platform.dataops.sensors import FINGERPRINT_TAG, landing_batches
from tagifai_platform_tests.dataops.test_bad_batches import good_batch, write_batch


def evaluate(instance, settings, cursor=None) -> dg.SensorResult:
    source = ProjectSource(location=settings.source, landing=str(settings.landing))
    context = dg.build_sensor_context(instance=instance, cursor=cursor, resources={"source": source})
    return landing_batches(context)


def test_new_batches_are_requested_once_and_changed_ones_again(instance, settings, dataset_dir):
    projects, tags = good_batch(dataset_dir, rows=10)
    write_batch(settings.landing, projects, tags, key="week1")
    write_batch(settings.landing, projects.head(5), tags.head(5), key="week2")

    first = evaluate(instance, settings)
    assert sorted(request.partition_key for request in first.run_requests) == ["week1", "week2"]
    assert first.dynamic_partitions_requests[0].partition_keys == ["week1", "week2"]
    assert all(request.run_key.startswith(f"{request.partition_key}:") for request in first.run_requests)
    assert all(FINGERPRINT_TAG in request.tags for request in first.run_requests)
    instance.add_dynamic_partitions(batches.name, ["week1", "week2"])

    # Re-dropping identical files does nothing.
    write_batch(settings.landing, projects, tags, key="week1")
    second = evaluate(instance, settings, first.cursor)
    assert second.run_requests == [] and "No new or changed batch" in second.skip_reason.skip_message

    # A changed file re-ingests its batch, and the partition is not added twice.
    write_batch(settings.landing, projects.head(9), tags.head(9), key="week1")
    third = evaluate(instance, settings, second.cursor)
    assert [request.partition_key for request in third.run_requests] == ["week1"]
    assert third.run_requests[0].run_key != first.run_requests[0].run_key
    assert third.dynamic_partitions_requests == []


def test_a_half_dropped_batch_waits_for_its_pair(instance, settings, dataset_dir):
    projects, _ = good_batch(dataset_dir, rows=3)
    settings.landing.mkdir(parents=True)
    projects.to_csv(settings.landing / "projects_week3.csv", index=False)
    result = evaluate(instance, settings)
    assert result.run_requests == [] and "week3" in result.skip_reason.skip_message


def test_the_sensor_targets_the_batch_job_and_runs_by_default():
    assert landing_batches.job_name == "ingest_batch"
    assert landing_batches.default_status == dg.DefaultSensorStatus.RUNNING
