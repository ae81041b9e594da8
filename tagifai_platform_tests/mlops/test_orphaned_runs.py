"""MLflow runs left RUNNING by a dead Dagster run are ended; those of a live run, or of no run, are not."""

import dagster as dg
import pytest

from tagifai_platform.mlops.sensors import orphaned_mlflow_runs
from tagifai_platform.mlops.tracking import DAGSTER_RUN_TAG, PARENT_RUN_TAG, end_orphaned_runs
from tagifai_platform.settings import load_settings
from tagifai_platform.shared import ModelRegistryResource
from tagifai_platform_tests.conftest import dagster_instance


@dg.op
def step() -> None:
    pass


@dg.job
def some_job():
    step()


@pytest.fixture(scope="module")
def registry(tmp_path_factory):
    """One MLflow store for the module (creating one takes seconds); each test names its own runs."""
    settings = load_settings({"TAGIFAI_HOME": str(tmp_path_factory.mktemp("home"))})
    return ModelRegistryResource(
        tracking_uri=settings.mlflow_tracking_uri, artifact_root=settings.mlflow_artifacts
    )


def start_runs(registry, dagster_runs: dict[str, str]) -> dict[str, str]:
    """For each name, an MLflow run left RUNNING for the Dagster run named, each with a nested trial run."""
    client = registry.registry.client
    experiment_id = registry.registry.ensure_experiment()
    runs = {}
    for name, dagster_run_id in dagster_runs.items():
        tags = {DAGSTER_RUN_TAG: dagster_run_id} if dagster_run_id else {}
        parent = client.create_run(experiment_id, tags=tags, run_name=name).info.run_id
        trial = client.create_run(experiment_id, tags={PARENT_RUN_TAG: parent}, run_name=f"{name}-trial")
        runs[name], runs[f"{name}-trial"] = parent, trial.info.run_id
    return runs


def statuses(registry, runs: dict[str, str]) -> dict[str, str]:
    return {name: registry.registry.client.get_run(run_id).info.status for name, run_id in runs.items()}


def test_only_the_runs_of_a_finished_dagster_run_are_ended_nested_ones_included(registry):
    runs = start_runs(registry, {"dead": "dagster-dead", "live": "dagster-live", "untagged": ""})
    experiment_id = registry.registry.ensure_experiment()

    client = registry.registry.client
    ended = end_orphaned_runs(client, experiment_id, lambda run_id: run_id == "dagster-dead")

    assert sorted(ended) == sorted([runs["dead"], runs["dead-trial"]])
    assert statuses(registry, runs) == {
        "dead": "KILLED",
        "dead-trial": "KILLED",
        "live": "RUNNING",
        "live-trial": "RUNNING",
        "untagged": "RUNNING",
        "untagged-trial": "RUNNING",
    }


def test_the_sensor_asks_the_instance_which_dagster_runs_are_over(registry, tmp_path):
    with dagster_instance(tmp_path / "dagster") as instance:
        failed = instance.create_run_for_job(job_def=some_job)
        instance.report_run_failed(failed, "its process was killed")
        started = instance.create_run_for_job(job_def=some_job)
        instance.handle_new_event(  # a run in progress, as its worker reports it
            dg.EventLogEntry(
                error_info=None,
                level="debug",
                user_message="",
                run_id=started.run_id,
                timestamp=0.0,
                dagster_event=dg.DagsterEvent(dg.DagsterEventType.RUN_START.value, job_name=some_job.name),
            )
        )
        runs = start_runs(registry, {"failed": failed.run_id, "started": started.run_id})
        context = dg.build_sensor_context(instance=instance, resources={"model_registry": registry})

        first = orphaned_mlflow_runs(context)
        second = orphaned_mlflow_runs(context)

    assert "Ended 2 MLflow runs" in first.skip_message
    assert second.skip_message == "No MLflow run left RUNNING by a finished Dagster run."
    assert statuses(registry, runs) == {
        "failed": "KILLED",
        "failed-trial": "KILLED",
        "started": "RUNNING",
        "started-trial": "RUNNING",
    }


def test_the_sensor_creates_no_store_in_a_fresh_home(settings, tmp_path):
    fresh = ModelRegistryResource(
        tracking_uri=settings.mlflow_tracking_uri, artifact_root=settings.mlflow_artifacts
    )
    with dagster_instance(tmp_path / "dagster") as instance:
        context = dg.build_sensor_context(instance=instance, resources={"model_registry": fresh})
        assert orphaned_mlflow_runs(context).skip_message == "No MLflow store yet."
    assert not fresh.registry.database.exists()
