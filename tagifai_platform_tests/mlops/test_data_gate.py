"""The data gate holds for the *next* run: nothing that failed or slipped past validation is trained on.

Each test makes a good state, then a bad input, and then looks at what the following run reads:
the training set that `mlops` would tune and train on, and the holdout it would gate on.
"""

import dataclasses
import os
import time

import dagster as dg
import pandas as pd
import pytest

from tagifai_platform.data.transform import label_holdout
from tagifai_platform.definitions import build_definitions
from tagifai_platform_tests.conftest import copy_dataset, leaky_source
from tagifai_platform_tests.dataops.conftest import check_results, run_job, warehouse_table
from tagifai_platform_tests.dataops.test_bad_batches import good_batch, ingest, write_batch

TRAINING_SET = [dg.AssetKey("project_features"), dg.AssetKey("training_dataset")]


def build_training_set(defs, instance) -> dg.ExecuteInProcessResult:
    """What the next `mlops` run does before tuning: publish the features, retrieve and audit the set."""
    return defs.resolve_job_def("mlops").execute_in_process(
        instance=instance, asset_selection=TRAINING_SET, raise_on_error=False
    )


def with_source(settings, source) -> dg.Definitions:
    return build_definitions(dataclasses.replace(settings, source=str(source)))


@pytest.fixture
def ingested(defs, instance, settings):
    """The real data through `dataops` and into a first training set of 764 projects."""
    assert run_job(defs, instance, "dataops").success
    assert build_training_set(defs, instance).success
    assert len(warehouse_table(settings, "training_dataset")) == 764


def test_a_source_that_fails_its_checks_is_not_trained_on_next_time(
    defs, instance, settings, dataset_dir, tmp_path, ingested
):
    leaky, holdout = leaky_source(dataset_dir, tmp_path / "leaky")

    failed = run_job(with_source(settings, leaky), instance, "dataops")
    assert not failed.success and not check_results(failed)["labeled_projects_suite"].passed

    assert build_training_set(defs, instance).success
    training = warehouse_table(settings, "training_dataset")
    assert len(training) == 764 and not training["id"].isin(holdout["id"].astype(int)).any()
    materialization = instance.get_latest_materialization_event(dg.AssetKey("project_features"))
    report = materialization.asset_materialization.metadata["batches"].data
    assert "is not published" in report["used"][0]["note"], "the run says it kept the last good version"


def test_a_holdout_that_fails_its_checks_is_not_used(
    defs, instance, settings, dataset_dir, tmp_path, ingested
):
    typos = copy_dataset(dataset_dir, tmp_path / "typos")
    holdout = pd.read_csv(dataset_dir / "holdout.csv", dtype=str)
    wrong = holdout["tag"] == "computer-vision"
    holdout.loc[holdout.index[wrong][:3], "tag"] = "computer_vision"
    holdout.to_csv(typos / "holdout.csv", index=False)

    failed = run_job(with_source(settings, typos), instance, "dataops")
    assert not check_results(failed)["holdout_projects_suite"].passed
    stored = warehouse_table(settings, "holdout_projects")
    assert "computer_vision" not in set(stored["tag"]) and len(stored) == 191


def test_a_landing_batch_that_fails_is_left_out_of_the_union(defs, instance, settings, dataset_dir, ingested):
    projects, tags = good_batch(dataset_dir, rows=8)
    holdout = pd.read_csv(dataset_dir / "holdout.csv", dtype=str).head(2)
    projects.loc[:1, ["title", "description"]] = holdout[["title", "description"]].to_numpy()
    write_batch(settings.landing, projects, tags, key="disguised")
    result = ingest(defs, instance, "disguised")
    assert "expect_column_values_to_not_be_in_set on column text" in (
        check_results(result)["labeled_projects_suite"].description
    )
    assert build_training_set(defs, instance).success
    assert not warehouse_table(settings, "training_dataset")["id"].isin(projects["id"].astype(int)).any()
    report = instance.get_latest_materialization_event(
        dg.AssetKey("project_features")
    ).asset_materialization.metadata["batches"]
    assert "failed labeled_projects_suite" in report.data["excluded"]["disguised"]


def test_a_project_moved_into_the_holdout_stops_training(
    defs, instance, settings, dataset_dir, tmp_path, ingested
):
    moved = copy_dataset(dataset_dir, tmp_path / "moved")
    projects = pd.read_csv(dataset_dir / "projects.csv", dtype=str)
    tags = pd.read_csv(dataset_dir / "tags.csv", dtype=str)
    holdout = pd.read_csv(dataset_dir / "holdout.csv", dtype=str)
    newcomer = projects.head(1).assign(tag=tags["tag"].iloc[0])  # computer-vision, one of the classes
    pd.concat([holdout, newcomer]).to_csv(moved / "holdout.csv", index=False)
    trained_before = warehouse_table(settings, "training_dataset")

    rerun = run_job(with_source(settings, moved), instance, "dataops")
    check = check_results(rerun)["labeled_projects_suite"]
    assert not check.passed and "column id" in check.description, (
        "the source is checked against the new holdout"
    )
    # Its last good version, published before the holdout changed, is checked again where it is read.
    result = build_training_set(defs, instance)
    assert not result.success
    failure = next(event for event in result.all_events if event.is_step_failure)
    assert str(int(newcomer["id"].iloc[0])) in failure.step_failure_data.error.message
    pd.testing.assert_frame_equal(warehouse_table(settings, "training_dataset"), trained_before)


def test_odd_but_valid_dates_reach_the_training_set_in_utc(defs, instance, settings, dataset_dir, tmp_path):
    dates = copy_dataset(dataset_dir, tmp_path / "dates")
    projects = pd.read_csv(dataset_dir / "projects.csv", dtype=str)
    projects.loc[0, "created_on"] = "1970-01-01"
    projects.loc[1, "created_on"] = "2021-06-01T10:00:00+02:00"
    projects.loc[2, "created_on"] = "2021-06-01T10:00:00-05:00"
    projects.to_csv(dates / "projects.csv", index=False)
    zone = os.environ.get("TZ")
    os.environ["TZ"] = "Asia/Kolkata"  # a machine ahead of UTC must not shift anything
    time.tzset()
    try:
        defs = with_source(settings, dates)
        assert run_job(defs, instance, "dataops").success
        assert build_training_set(defs, instance).success
    finally:
        os.environ.pop("TZ") if zone is None else os.environ.update(TZ=zone)
        time.tzset()
    labeled = warehouse_table(settings, "labeled_projects").set_index("id")
    ids = projects["id"].astype(int)
    assert labeled.loc[ids[0], "created_on"] == pd.Timestamp("1970-01-01")
    assert labeled.loc[ids[1], "created_on"] == pd.Timestamp("2021-06-01 08:00")
    assert labeled.loc[ids[2], "created_on"] == pd.Timestamp("2021-06-01 15:00")
    assert len(warehouse_table(settings, "training_dataset")) == 764, "no project vanished"


def test_the_latest_ingestion_of_a_project_wins(defs, instance, settings, dataset_dir, ingested):
    projects, tags = good_batch(dataset_dir, rows=4)
    shared = int(projects["id"].iloc[0])
    write_batch(settings.landing, projects, tags.assign(tag="mlops"), key="b1")
    assert ingest(defs, instance, "b1").success
    write_batch(settings.landing, projects.head(1), tags.head(1).assign(tag="computer-vision"), key="b2")
    assert ingest(defs, instance, "b2").success
    write_batch(settings.landing, projects, tags.assign(tag="natural-language-processing"), key="b1")
    assert ingest(defs, instance, "b1").success, "b1 corrected and sent again, after b2"

    assert build_training_set(defs, instance).success
    training = warehouse_table(settings, "training_dataset").set_index("id")
    assert training.loc[shared, "tag"] == "natural-language-processing"


def test_the_training_set_check_names_rows_that_went_missing(defs, instance, settings, ingested):
    """The second line of defence: a retrieval that loses rows fails, and the last good set stays."""
    from tagifai_platform.features import feature_store

    store = feature_store(settings.feast_dir)
    offline = settings.feast_dir / "data" / "projects.parquet"
    before = warehouse_table(settings, "training_dataset")
    published = pd.read_parquet(offline)
    lost = int(published["id"].iloc[0])
    job = defs.resolve_job_def("mlops")
    # Publish the features, then lose one project from the offline store before the retrieval.
    assert job.execute_in_process(instance=instance, asset_selection=TRAINING_SET[:1]).success
    published[published["id"] != lost].to_parquet(offline, index=False)
    del store
    result = job.execute_in_process(instance=instance, asset_selection=TRAINING_SET[1:], raise_on_error=False)
    check = check_results(result)["training_dataset_suite"]
    assert not check.passed and str(lost) in check.description
    pd.testing.assert_frame_equal(warehouse_table(settings, "training_dataset"), before)


def test_the_holdout_is_kept_apart_from_annotations_by_text(holdout, labeled):
    from tagifai_platform.monitoring.retraining import compose_retraining_dataset

    annotated = holdout.head(5).assign(id=[f"annotation-{i}" for i in range(5)])
    dataset, report = compose_retraining_dataset(labeled, annotated, holdout=label_holdout(holdout), seed=1)
    assert report["holdout_removed"] == 5
    assert not dataset["text"].isin(holdout["text"]).any()
