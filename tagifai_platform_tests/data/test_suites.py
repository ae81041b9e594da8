"""The Great Expectations suites: the real data passes, and each kind of bad row is named."""

import subprocess
import sys
import textwrap

import pandas as pd
import pytest

from tagifai_platform.data import suites
from tagifai_platform.data.sources import read_holdout, read_projects, read_tags
from tagifai_platform.data.validation import validate_frame

PROJECTS, TAGS = "select * from projects", "select * from tags"


@pytest.fixture(scope="module")
def raw(dataset_dir):
    projects = read_projects(str(dataset_dir / "projects.csv"))
    return projects, read_tags(str(dataset_dir / "tags.csv"), projects)


def failed(summary) -> set[tuple[str, str]]:
    return {(failure.expectation, failure.target) for failure in summary.failures}


def test_the_real_data_meets_every_suite(gx_context, validate_in_duckdb, raw, labeled, holdout, dataset_dir):
    projects, tags = raw
    holdout_file = read_holdout(str(dataset_dir / "holdout.csv"))
    training = labeled.assign(split="train")
    for summary in [
        validate_in_duckdb(
            suites.raw_projects_suite(), suites.projects_for_validation(PROJECTS), projects=projects
        ),
        validate_in_duckdb(
            suites.raw_tags_suite(),
            suites.tags_for_validation(TAGS, PROJECTS),
            tags=tags,
            projects=projects,
        ),
        validate_in_duckdb(suites.labeled_projects_suite(holdout), PROJECTS, projects=labeled),
        validate_in_duckdb(
            suites.holdout_projects_suite(), suites.projects_for_validation(PROJECTS), projects=holdout_file
        ),
        validate_frame(gx_context, training, suites.training_dataset_suite(holdout, len(labeled))),
    ]:
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
            "expect_column_values_to_match_regex",
            "column created_on",
        ),
        (
            lambda p: p.assign(created_on=p["created_on"].where(p.index != 2, "June 2 2021")),
            "expect_column_values_to_match_regex",
            "column created_on",
        ),
        (
            lambda p: p.assign(created_on=p["created_on"].where(p.index != 2, "2021-02-30")),
            "expect_column_values_to_not_be_null",
            "column created_on_utc",
        ),
        (
            lambda p: p.assign(created_on=p["created_on"].where(p.index != 2, "2027-06-01")),
            "expect_column_values_to_be_between",
            "column created_on_utc",
        ),
        (
            lambda p: p.assign(id=p["id"].where(p.index != 1, " " + p["id"][1])),
            "expect_column_values_to_match_regex",
            "column id",
        ),
        (
            lambda p: p.assign(id=p["id"].where(p.index != 1, "0" + p["id"][1])),
            "expect_column_values_to_match_regex",
            "column id",
        ),
        (
            lambda p: p.assign(id=p["id"].where(p.index != 1, "99999999999999999999")),
            "expect_column_values_to_match_regex",
            "column id",
        ),
        (
            lambda p: p.assign(title=p["title"].where(p.index != 0, "   ")),
            "expect_column_values_to_match_regex",
            "column title",
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
        "words-for-a-date",
        "impossible-date",
        "future-date",
        "id-with-space",
        "id-leading-zero",
        "id-overflow",
        "blank-title",
        "1mb-description",
        "column-order",
        "duplicate-text",
    ],
)
def test_raw_projects_suite_names_each_problem(validate_in_duckdb, raw, corrupt, expectation, target):
    summary = validate_in_duckdb(
        suites.raw_projects_suite(), suites.projects_for_validation(PROJECTS), projects=corrupt(raw[0].copy())
    )
    assert (expectation, target) in failed(summary), summary.describe()
    failure = next(f for f in summary.failures if (f.expectation, f.target) == (expectation, target))
    assert failure.unexpected_count in (None, 1, 2) and expectation in summary.describe()


def test_raw_tags_suite_refuses_unknown_tags_and_orphan_ids(validate_in_duckdb, raw):
    projects, tags = raw
    bad = tags.copy()
    bad.loc[0, "tag"] = "banana"
    bad.loc[1, "id"] = "424242"
    bad.loc[2, "id"] = "0" + bad.loc[2, "id"]  # the tag's project under another spelling is not its project
    summary = validate_in_duckdb(
        suites.raw_tags_suite(), suites.tags_for_validation(TAGS, PROJECTS), tags=bad, projects=projects
    )
    assert failed(summary) == {
        ("expect_column_values_to_be_in_set", "column tag"),
        ("expect_column_values_to_match_regex", "column id"),
        ("expect_column_pair_values_to_be_equal", "columns id and project_id"),
    }
    orphans = next(f for f in summary.failures if f.expectation == "expect_column_pair_values_to_be_equal")
    assert orphans.unexpected_count == 2
    assert "banana" in summary.describe() and "424242" in summary.describe()


def test_labeled_suite_refuses_projects_leaked_from_the_holdout(validate_in_duckdb, labeled, holdout):
    leaked = labeled.head(3)
    summary = validate_in_duckdb(
        suites.labeled_projects_suite(pd.concat([holdout, leaked])), PROJECTS, projects=labeled
    )
    assert failed(summary) == {
        ("expect_column_values_to_not_be_in_set", "column id"),
        ("expect_column_values_to_not_be_in_set", "column text"),
    }
    assert [failure.unexpected_count for failure in summary.failures] == [3, 3]


def test_a_holdout_project_under_a_new_id_is_refused_by_its_text(
    gx_context, validate_in_duckdb, labeled, holdout
):
    disguised = pd.concat([labeled, holdout.head(2).assign(id=[900001, 900002])], ignore_index=True)
    for summary in (
        validate_in_duckdb(suites.labeled_projects_suite(holdout), PROJECTS, projects=disguised),
        validate_frame(
            gx_context,
            disguised.assign(split="train"),
            suites.training_dataset_suite(holdout, expected_rows=len(disguised)),
        ),
    ):
        assert failed(summary) == {("expect_column_values_to_not_be_in_set", "column text")}, (
            summary.describe()
        )


def test_the_training_set_suite_counts_the_rows_of_the_union(gx_context, labeled, holdout):
    summary = validate_frame(
        gx_context, labeled.assign(split="train"), suites.training_dataset_suite(holdout, len(labeled) + 2)
    )
    assert failed(summary) == {("expect_table_row_count_to_equal", "the table")}


def test_a_gx_context_freezes_what_the_process_built_but_not_its_garbage():
    """Long-lived modules leave the collector's sight (every full collection, and the one at exit,
    walked them); a cycle that was garbage already is freed first, not kept for good."""
    script = textwrap.dedent(
        """
        import gc, weakref
        from tagifai_platform.data.validation import ephemeral_context

        class Node:
            pass

        gc.disable()  # no collection by chance: only the one before the freeze may free the cycle
        node = Node()
        node.self = node
        garbage = weakref.ref(node)
        del node
        ephemeral_context()
        ephemeral_context()
        print(garbage() is None, gc.get_freeze_count())
        """
    )
    freed, frozen = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True
    ).stdout.split()
    assert freed == "True" and int(frozen) > 100_000
