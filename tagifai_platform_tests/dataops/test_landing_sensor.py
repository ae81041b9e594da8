"""The landing sensor: what was ingested, not what was requested, decides whether a batch needs a run."""

import shutil

import dagster as dg
import pytest

from tagifai_platform.dataops.resources import ProjectSource
from tagifai_platform.dataops.sensors import FINGERPRINT_TAG, MAX_ATTEMPTS, landing_batches
from tagifai_platform_tests.dataops.conftest import run_job, warehouse_table
from tagifai_platform_tests.dataops.test_bad_batches import _with, good_batch, write_batch


def evaluate(instance, settings) -> dg.SensorResult:
    source = ProjectSource(location=settings.source, landing=str(settings.landing))
    return landing_batches(dg.build_sensor_context(instance=instance, resources={"source": source}))


def requested(result: dg.SensorResult) -> list[str]:
    return sorted(request.partition_key for request in result.run_requests)


def launch(defs, instance, result: dg.SensorResult) -> list[dg.ExecuteInProcessResult]:
    """Run what the sensor asked for, as the daemon would: partitions added, tags passed on."""
    for request in result.dynamic_partitions_requests:
        instance.add_dynamic_partitions(request.partitions_def_name, list(request.partition_keys))
    return [
        defs.resolve_job_def("ingest_batch").execute_in_process(
            instance=instance, partition_key=request.partition_key, tags=request.tags, raise_on_error=False
        )
        for request in result.run_requests
    ]


@pytest.fixture
def with_holdout(defs, instance):
    assert run_job(defs, instance, "dataops").success


def test_batches_wait_for_the_holdout(instance, settings, dataset_dir):
    write_batch(settings.landing, *good_batch(dataset_dir, rows=5), key="early")
    result = evaluate(instance, settings)
    assert result.run_requests == []
    assert "wait for the holdout: run the dataops job first" in result.skip_reason.skip_message


def test_what_was_ingested_decides(defs, instance, settings, dataset_dir, with_holdout):
    projects, tags = good_batch(dataset_dir, rows=10)
    write_batch(settings.landing, projects, tags, key="week1")
    write_batch(settings.landing, projects.head(5), tags.head(5), key="week2")

    first = evaluate(instance, settings)
    assert requested(first) == ["week1", "week2"]
    assert first.dynamic_partitions_requests[0].partition_keys == ["week1", "week2"]
    assert all(FINGERPRINT_TAG in request.tags for request in first.run_requests)
    assert requested(evaluate(instance, settings)) == ["week1", "week2"], "not ingested yet: asked again"
    assert all(run.success for run in launch(defs, instance, first))

    # Re-dropping identical files does nothing.
    write_batch(settings.landing, projects, tags, key="week1")
    second = evaluate(instance, settings)
    assert second.run_requests == [] and "No new or changed batch" in second.skip_reason.skip_message

    # A changed file re-ingests its batch, and the partition is not added twice.
    write_batch(settings.landing, _with(projects, 0, title="A corrected title"), tags, key="week1")
    third = evaluate(instance, settings)
    assert requested(third) == ["week1"] and third.dynamic_partitions_requests == []
    assert all(run.success for run in launch(defs, instance, third))
    assert "A corrected title" in set(warehouse_table(settings, "labeled_projects")["title"])

    # Reverting to the earlier content is a change too: the warehouse holds the corrected title.
    write_batch(settings.landing, projects, tags, key="week1")
    fourth = evaluate(instance, settings)
    assert requested(fourth) == ["week1"]
    assert fourth.run_requests[0].run_key not in {r.run_key for r in first.run_requests + third.run_requests}
    assert all(run.success for run in launch(defs, instance, fourth))
    assert "A corrected title" not in set(warehouse_table(settings, "labeled_projects")["title"])
    assert evaluate(instance, settings).run_requests == []


def test_a_batch_that_failed_its_checks_is_not_retried_until_it_changes(
    defs, instance, settings, dataset_dir, with_holdout
):
    projects, tags = good_batch(dataset_dir, rows=6)
    write_batch(settings.landing, projects, _with(tags, 0, tag="banana"), key="bad")
    (run,) = launch(defs, instance, evaluate(instance, settings))
    assert not run.success
    assert evaluate(instance, settings).run_requests == [], "the same files would fail the same way"
    write_batch(settings.landing, projects, tags, key="bad")
    assert requested(evaluate(instance, settings)) == ["bad"]


def test_a_batch_whose_run_failed_for_another_reason_is_requested_again(
    defs, instance, settings, dataset_dir, with_holdout, tmp_path
):
    write_batch(settings.landing, *good_batch(dataset_dir, rows=6), key="flaky")
    away = tmp_path / "away"
    for attempt in range(1, MAX_ATTEMPTS + 1):
        result = evaluate(instance, settings)
        assert requested(result) == ["flaky"], f"attempt {attempt}"
        assert result.run_requests[0].run_key.endswith(f":{attempt}")
        shutil.move(settings.landing, away)  # the files vanish while the run starts: no data problem
        (run,) = launch(defs, instance, result)
        shutil.move(away, settings.landing)
        assert not run.success
    held = evaluate(instance, settings)
    assert held.run_requests == []
    assert (
        f"{MAX_ATTEMPTS} runs for these files failed without a data problem" in held.skip_reason.skip_message
    )


def test_ambiguous_and_ignored_files_are_reported(instance, settings, dataset_dir, defs, with_holdout):
    projects, tags = good_batch(dataset_dir, rows=3)
    write_batch(settings.landing, projects, tags, key="b2")
    projects.to_csv(settings.landing / "projects-b2.csv", index=False)
    projects.to_csv(settings.landing / "projects_week 3.csv", index=False)
    result = evaluate(instance, settings)
    assert result.run_requests == []
    message = result.skip_reason.skip_message
    assert "batch 'b2' is refused: projects-b2.csv and projects_b2.csv both name it" in message
    assert "projects_week 3.csv is ignored" in message


def test_the_sensor_targets_the_batch_job_and_runs_by_default():
    assert landing_batches.job_name == "ingest_batch"
    assert landing_batches.default_status == dg.DefaultSensorStatus.RUNNING
