"""Declarative automation: a batch that passed its checks refreshes the features and the training set;
one that failed them, and the model's own assets, wait for a decision."""

import dagster as dg
import pandas as pd

from tagifai_platform.warehouse import Warehouse
from tagifai_platform_tests.dataops.conftest import run_job
from tagifai_platform_tests.dataops.test_bad_batches import good_batch, ingest, write_batch

REFRESHED = {"project_features", "training_dataset"}


def requested(defs, instance, cursor=None) -> tuple[set[str], object]:
    """What the automation sensor would launch now, as the daemon evaluates it."""
    result = dg.evaluate_automation_conditions(defs=defs, instance=instance, cursor=cursor)
    keys = {
        key.to_user_string()
        for key in defs.resolve_asset_graph().get_all_asset_keys()
        if result.get_num_requested(key)
    }
    return keys, result.cursor


def test_a_passed_batch_refreshes_the_features_and_training_set_a_failed_one_does_not(
    defs, instance, settings, dataset_dir
):
    _, cursor = requested(defs, instance)  # the sensor's first tick, on an empty platform
    assert run_job(defs, instance, "dataops").success
    first, cursor = requested(defs, instance, cursor)
    assert first == REFRESHED, "both in one run, the features first"
    materialize = dg.AssetSelection.assets(*REFRESHED)
    refresh = defs.resolve_implicit_global_asset_job_def().get_subset(
        asset_selection=materialize.resolve(defs.resolve_asset_graph())
    )
    assert refresh.execute_in_process(instance=instance).success
    quiet, cursor = requested(defs, instance, cursor)
    assert quiet == set()
    # Written by a run tagged with the source batch (dataops) and by an untagged one: still one
    # version of each unpartitioned table is read, not one per run tag.
    warehouse = Warehouse(settings.warehouse_path)
    for table in ("holdout_projects", "training_dataset"):
        assert warehouse.publications(table)["partition"].tolist() == [""]

    projects, tags = good_batch(dataset_dir, rows=20)
    write_batch(settings.landing, projects, tags, key="week1")
    assert ingest(defs, instance, "week1").success
    after_good, cursor = requested(defs, instance, cursor)
    assert after_good == REFRESHED, "the new batch's labels reach the features and the training set"
    assert refresh.execute_in_process(instance=instance).success
    assert requested(defs, instance, cursor)[0] == set()

    # A batch carrying a holdout project's text fails labeled_projects_suite: nothing refreshes.
    holdout = pd.read_csv(dataset_dir / "holdout.csv", dtype=str).head(1).assign(id="909090")
    leaky = pd.concat([projects.head(3), holdout.drop(columns=["tag"])], ignore_index=True)
    leaky_tags = pd.concat([tags.head(3), holdout[["id", "tag"]]], ignore_index=True)
    write_batch(settings.landing, leaky, leaky_tags, key="leaky")
    failed = ingest(defs, instance, "leaky")
    assert not failed.success
    assert requested(defs, instance, cursor)[0] == set(), "a failed check holds the refresh back"


def test_only_the_features_and_training_set_refresh_on_their_own(defs):
    sensor = defs.resolve_sensor_def("refresh_training_data")
    assert sensor.default_status == dg.DefaultSensorStatus.RUNNING
    graph = defs.resolve_asset_graph()
    automated = {
        key.to_user_string() for key in graph.get_all_asset_keys() if graph.get(key).automation_condition
    }
    assert automated == REFRESHED
