"""The dataops job materialized into a temporary instance from the real data."""

import dagster as dg

from tagifai_platform.data.batches import SOURCE_BATCH
from tagifai_platform_tests.dataops.conftest import check_results, run_job, warehouse_table

EXPECTED_TAGS = {"computer-vision": 285, "mlops": 63, "natural-language-processing": 310, "other": 106}


def test_the_dataops_job_labels_the_real_data(defs, instance, settings):
    result = run_job(defs, instance, "dataops")
    assert result.success

    labeled = warehouse_table(settings, "labeled_projects")
    assert len(labeled) == 764 and set(labeled["batch"]) == {SOURCE_BATCH}
    assert labeled["tag"].value_counts().to_dict() == EXPECTED_TAGS
    assert len(warehouse_table(settings, "holdout_projects")) == 191

    checks = check_results(result)
    assert set(checks) == {
        "raw_projects_suite",
        "raw_tags_suite",
        "labeled_projects_suite",
        "holdout_projects_suite",
    }
    assert all(check.passed for check in checks.values())

    materialization = instance.get_latest_materialization_event(
        dg.AssetKey("labeled_projects")
    ).asset_materialization
    metadata = materialization.metadata
    assert materialization.partition == SOURCE_BATCH
    assert metadata["dagster/row_count"].value == 764
    assert metadata["tag_distribution"].data == EXPECTED_TAGS
    assert {"preview", "dagster/column_schema", "source", "batch"} <= set(metadata)


def test_every_audited_table_is_published_by_a_blocking_check_of_its_own(defs):
    """An asset waiting for a check that does not exist would never be read."""
    from tagifai_platform.io_managers import AUDITED_BY

    graph = defs.resolve_asset_graph()
    audited = {
        key.to_user_string(): graph.get(key).metadata[AUDITED_BY]
        for key in graph.get_all_asset_keys()
        if AUDITED_BY in graph.get(key).metadata
    }
    checks = {
        (check.asset_key.to_user_string(), check.name)
        for check in graph.asset_check_keys
        if graph.get_check_spec(check).blocking
    }
    assert set(audited) == {
        "raw_projects",
        "raw_tags",
        "labeled_projects",
        "holdout_projects",
        "training_dataset",
    }
    assert set(audited.items()) <= checks


def test_the_whole_code_location_loads():
    from tagifai_platform.definitions import defs

    jobs = {job.name for job in defs.resolve_all_job_defs()}
    assert {"dataops", "ingest_batch", "mlops", "end_to_end", "monitor", "policy_engine"} <= jobs
