"""Bad batches fail loudly, keep their raw files, and never touch the labeled data of good batches."""

import dagster as dg
import pandas as pd
import pytest

from tagifai_platform.shared import batches
from tagifai_platform.warehouse import Warehouse
from tagifai_platform_tests.dataops.conftest import check_results, run_job, warehouse_table

BATCH = "2024-06"


def good_batch(dataset_dir, rows: int = 30) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Real projects under fresh ids, so they are new to the source and apart from the holdout."""
    projects = pd.read_csv(dataset_dir / "projects.csv", dtype=str).head(rows)
    tags = pd.read_csv(dataset_dir / "tags.csv", dtype=str).head(rows)
    projects["id"] = (projects["id"].astype(int) + 100_000).astype(str)
    tags["id"] = projects["id"]
    return projects, tags


def write_batch(landing, projects, tags, key: str = BATCH) -> None:
    landing.mkdir(parents=True, exist_ok=True)
    for kind, content in (("projects", projects), ("tags", tags)):
        path = landing / f"{kind}_{key}.csv"
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            content.to_csv(path, index=False)


def ingest(defs, instance, key: str = BATCH) -> dg.ExecuteInProcessResult:
    instance.add_dynamic_partitions(batches.name, [key])
    return run_job(defs, instance, "ingest_batch", key)


def failure_text(result: dg.ExecuteInProcessResult) -> str:
    """Everything a user would read about the failure: step errors and failed check descriptions."""
    texts = [
        event.step_failure_data.error.to_string() for event in result.all_events if event.is_step_failure
    ]
    texts += [check.description or "" for check in check_results(result).values() if not check.passed]
    return "\n".join(texts)


def _with(frame: pd.DataFrame, row: int, **values) -> pd.DataFrame:
    frame = frame.copy()
    for column, value in values.items():
        frame.loc[row, column] = value
    return frame


BAD_BATCHES = {
    "missing-column": (lambda p, t: (p.drop(columns=["created_on"]), t), "missing columns ['created_on']"),
    "extra-column": (lambda p, t: (p.assign(stars="5"), t), "unexpected columns ['stars']"),
    "wrong-type": (
        lambda p, t: (_with(p, 2, id="seven"), _with(t, 2, id="seven")),
        "expect_column_values_to_match_regex on column id",
    ),
    "empty-file": (lambda p, t: (b"", t), "is empty"),
    "not-csv": (lambda p, t: (b'{"projects": [1, 2, 3]}', t), "missing columns"),
    "not-utf8": (
        lambda p, t: (p.to_csv(index=False).encode("utf-8").replace(b"a", b"\xe9", 1), t),
        "not UTF-8",
    ),
    "duplicate-ids": (
        lambda p, t: (_with(p, 1, id=p.loc[0, "id"]), t),
        "expect_column_values_to_be_unique on column id",
    ),
    "null-title": (
        lambda p, t: (_with(p, 3, title=None), t),
        "expect_column_values_to_not_be_null on column title",
    ),
    "unknown-tag": (lambda p, t: (p, _with(t, 4, tag="banana")), "banana"),
    "1mb-description": (
        lambda p, t: (_with(p, 5, description="x" * 1_000_000), t),
        "expect_column_value_lengths_to_be_between on column description",
    ),
    "orphan-tag-id": (lambda p, t: (p, _with(t, 6, id="424242")), "424242"),
    "words-for-a-date": (
        lambda p, t: (_with(p, 2, created_on="June 2 2021"), t),
        "expect_column_values_to_match_regex on column created_on",
    ),
    "two-spellings-of-an-id": (
        lambda p, t: (_with(p, 1, id="0" + p.loc[0, "id"]), _with(t, 1, id="0" + p.loc[0, "id"])),
        "expect_column_values_to_match_regex on column id",
    ),
    "id-beyond-64-bits": (
        lambda p, t: (_with(p, 2, id="99999999999999999999"), _with(t, 2, id="99999999999999999999")),
        "expect_column_values_to_match_regex on column id",
    ),
    "id-with-a-space": (
        lambda p, t: (_with(p, 2, id=" " + p.loc[2, "id"]), t),
        "expect_column_values_to_match_regex on column id",
    ),
    "blank-title": (
        lambda p, t: (_with(p, 3, title="   "), t),
        "expect_column_values_to_match_regex on column title",
    ),
    "future-date": (
        lambda p, t: (_with(p, 4, created_on="2027-06-01"), t),
        "expect_column_values_to_be_between on column created_on_utc",
    ),
}


@pytest.mark.parametrize("case", BAD_BATCHES, ids=list(BAD_BATCHES))
def test_a_bad_batch_fails_and_keeps_the_last_good_data(defs, instance, settings, dataset_dir, case):
    holdout = defs.resolve_job_def("dataops").execute_in_process(
        instance=instance, asset_selection=[dg.AssetKey("holdout_projects")]
    )
    assert holdout.success, "the labeled suite checks batches against the holdout"
    projects, tags = good_batch(dataset_dir)
    write_batch(settings.landing, projects, tags)
    assert ingest(defs, instance).success
    before = warehouse_table(settings, "labeled_projects")
    assert len(before) == 30

    corrupt, message = BAD_BATCHES[case]
    write_batch(settings.landing, *corrupt(projects, tags))
    result = ingest(defs, instance)

    assert not result.success
    assert message in failure_text(result)
    assert f"_{BATCH}.csv" in failure_text(result), "the message names the file"
    after = warehouse_table(settings, "labeled_projects")
    pd.testing.assert_frame_equal(
        after.sort_values(["batch", "id"]).reset_index(drop=True),
        before.sort_values(["batch", "id"]).reset_index(drop=True),
    )
    assert (settings.landing / f"projects_{BATCH}.csv").exists() and (
        settings.landing / f"tags_{BATCH}.csv"
    ).exists()
    warehouse = Warehouse(settings.warehouse_path)
    for check in check_results(result).values():  # the files parsed: the raw rows are kept, marked unread
        if not check.passed:
            table = check.asset_key.to_user_string()
            assert warehouse.staged(table, BATCH).version == result.run_id
            assert "is not published" in warehouse.exclusions(table, [BATCH])[BATCH]
    # The next run reads the last good version of the batch, not the failed one.
    nothing_new = defs.resolve_job_def("ingest_batch").execute_in_process(
        instance=instance, partition_key=BATCH, asset_selection=[dg.AssetKey("labeled_projects")]
    )
    assert nothing_new.success
    pd.testing.assert_frame_equal(
        warehouse_table(settings, "labeled_projects").sort_values("id").reset_index(drop=True),
        before.sort_values("id").reset_index(drop=True),
    )


def test_a_good_batch_joins_the_union_without_touching_others(defs, instance, settings, dataset_dir):
    assert run_job(defs, instance, "dataops").success
    projects, tags = good_batch(dataset_dir, rows=12)
    write_batch(settings.landing, projects, tags, key="week1")
    write_batch(settings.landing, *good_batch(dataset_dir, rows=5), key="week2")
    assert ingest(defs, instance, "week1").success
    labeled = warehouse_table(settings, "labeled_projects")
    assert labeled["batch"].value_counts().to_dict() == {"source": 764, "week1": 12}, "week2 was not ingested"
