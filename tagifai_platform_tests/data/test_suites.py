"""The Great Expectations suites: the real data passes, and each kind of bad row is named."""

import pandas as pd
import pytest

from tagifai_platform.data import suites
from tagifai_platform.data.sources import read_holdout, read_projects, read_tags
from tagifai_platform.data.validation import ephemeral_context, validate_frame


@pytest.fixture(scope="module")
def gx_context():
    return ephemeral_context()


@pytest.fixture(scope="module")
def raw(dataset_dir):
    projects = read_projects(str(dataset_dir / "projects.csv"))
    return projects, read_tags(str(dataset_dir / "tags.csv"), projects)


def failed(summary) -> set[tuple[str, str]]:
    return {(failure.expectation, failure.target) for failure in summary.failures}


def test_the_real_data_meets_every_suite(gx_context, raw, labeled, dataset_dir):
    projects, tags = raw
    holdout = read_holdout(str(dataset_dir / "holdout.csv"))
    for frame, suite in [
        (projects, suites.raw_projects_suite()),
        (tags, suites.raw_tags_suite(projects["id"])),
        (labeled, suites.labeled_projects_suite(holdout["id"].astype(int))),
        (holdout, suites.holdout_projects_suite()),
    ]:
        summary = validate_frame(gx_context, frame, suite)
        assert summary.success, summary.describe()


@pytest.mark.parametrize(
    ("corrupt", "expectation", "target"),
    [
        (
            lambda p: p.assign(id=p["id"].where(p.index != 3, p["id"][4])),
            "expect_column_values_to_be_unique",
            "column id",
        ),
        (
            lambda p: p.assign(title=p["title"].where(p.index != 0, None)),
            "expect_column_values_to_not_be_null",
            "column title",
        ),
        (
            lambda p: p.assign(id=p["id"].where(p.index != 1, "seven")),
            "expect_column_values_to_match_regex",
            "column id",
        ),
        (
            lambda p: p.assign(created_on=p["created_on"].where(p.index != 2, "yesterday-ish")),
            "expect_column_values_to_be_dateutil_parseable",
            "column created_on",
        ),
        (
            lambda p: p.assign(description=p["description"].where(p.index != 5, "x" * 1_000_000)),
            "expect_column_value_lengths_to_be_between",
            "column description",
        ),
        (
            lambda p: p[["id", "title", "created_on", "description"]],
            "expect_table_columns_to_match_ordered_list",
            "the table",
        ),
        (
            lambda p: pd.concat([p, p.iloc[[0]].assign(id="999999")]),
            "expect_compound_columns_to_be_unique",
            "columns ['title', 'description']",
        ),
    ],
    ids=[
        "duplicate-id",
        "null-title",
        "id-not-integer",
        "bad-date",
        "1mb-description",
        "column-order",
        "duplicate-text",
    ],
)
def test_raw_projects_suite_names_each_problem(gx_context, raw, corrupt, expectation, target):
    summary = validate_frame(gx_context, corrupt(raw[0].copy()), suites.raw_projects_suite())
    assert (expectation, target) in failed(summary), summary.describe()
    failure = next(f for f in summary.failures if (f.expectation, f.target) == (expectation, target))
    assert failure.unexpected_count in (None, 1, 2) and expectation in summary.describe()


def test_raw_tags_suite_refuses_unknown_tags_and_orphan_ids(gx_context, raw):
    projects, tags = raw
    bad = tags.copy()
    bad.loc[0, "tag"] = "banana"
    bad.loc[1, "id"] = "424242"
    summary = validate_frame(gx_context, bad, suites.raw_tags_suite(projects["id"]))
    assert failed(summary) == {
        ("expect_column_values_to_be_in_set", "column tag"),
        ("expect_column_values_to_be_in_set", "column id"),
    }
    assert "banana" in summary.describe() and "424242" in summary.describe()


def test_labeled_suite_refuses_projects_leaked_from_the_holdout(gx_context, labeled):
    holdout_ids = labeled["id"].head(3)
    summary = validate_frame(gx_context, labeled, suites.labeled_projects_suite(holdout_ids))
    assert failed(summary) == {("expect_column_values_to_not_be_in_set", "column id")}
    assert summary.failures[0].unexpected_count == 3
