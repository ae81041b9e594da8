"""Great Expectations suites for tagifai's data, written as code.

Each builder returns a fresh ``ExpectationSuite``; the raw suites check what arrived, the labeled
suite checks what the model will learn from (including that no project leaks from the holdout),
and the training set suite checks it once more where the model reads it. The raw suites refuse
everything the transform cannot take: ids in one plain spelling, ISO 8601 times that are not in
the future, titles and descriptions that are not blank. They run on :func:`projects_for_validation`,
which adds the parsed creation time beside the text that arrived. The raw and labeled suites run in
the DuckDB warehouse (``validation.validate_query``) on the SQL built here; the training set suite
runs on the frame the model reads.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pandas as pd

from tagifai_platform.data.schema import (
    CLASSES,
    FUTURE_TOLERANCE_MINUTES,
    HOLDOUT_COLUMNS,
    ID_PATTERN,
    LABELED_COLUMNS,
    MAX_DESCRIPTION_LENGTH,
    MAX_TITLE_LENGTH,
    NOT_BLANK,
    PROJECT_COLUMNS,
    RAW_TAGS,
    TAG_COLUMNS,
    TIMESTAMP_PATTERN,
)

PARSED_CREATED_ON = "created_on_utc"
# Beside each tag's id: the same id if the batch has a project of that id, null otherwise.
MATCHED_PROJECT = "project_id"


def _suite(name: str, expectations: list):
    import great_expectations as gx

    return gx.ExpectationSuite(name=name, expectations=expectations)


def projects_for_validation(projects: str) -> str:
    """Projects as they arrived (the DuckDB query ``projects``), plus their creation time parsed to
    naive UTC (null where it does not parse), as :func:`~tagifai_platform.data.transform.parse_timestamps`
    reads it; run on a connection whose time zone is UTC."""
    parsed = "timezone('UTC', try_cast(created_on as timestamptz))"
    return f"select *, {parsed} as {PARSED_CREATED_ON} from ({projects})"


def _project_expectations(columns: list[str]) -> list:
    import great_expectations.expectations as gxe

    return [
        gxe.ExpectTableColumnsToMatchOrderedList(column_list=columns),
        *[gxe.ExpectColumnValuesToNotBeNull(column=column) for column in PROJECT_COLUMNS],
        gxe.ExpectColumnValuesToBeUnique(column="id"),
        gxe.ExpectCompoundColumnsToBeUnique(column_list=["title", "description"]),
        gxe.ExpectColumnValueLengthsToBeBetween(column="title", min_value=1, max_value=MAX_TITLE_LENGTH),
        gxe.ExpectColumnValueLengthsToBeBetween(
            column="description", min_value=1, max_value=MAX_DESCRIPTION_LENGTH
        ),
    ]


def _arrived_project_expectations(columns: list[str]) -> list:
    """What a file of projects must hold before the transform may read it."""
    import great_expectations.expectations as gxe

    latest = datetime.now(UTC).replace(tzinfo=None) + timedelta(minutes=FUTURE_TOLERANCE_MINUTES)
    return [
        *_project_expectations([*columns, PARSED_CREATED_ON]),
        gxe.ExpectColumnValuesToMatchRegex(column="id", regex=ID_PATTERN),
        gxe.ExpectColumnValuesToMatchRegex(column="created_on", regex=TIMESTAMP_PATTERN),
        gxe.ExpectColumnValuesToNotBeNull(column=PARSED_CREATED_ON),
        gxe.ExpectColumnValuesToBeBetween(column=PARSED_CREATED_ON, max_value=latest),
        gxe.ExpectColumnValuesToMatchRegex(column="title", regex=NOT_BLANK),
        gxe.ExpectColumnValuesToMatchRegex(column="description", regex=NOT_BLANK),
    ]


def raw_projects_suite():
    """Run on :func:`projects_for_validation` of a projects file."""
    return _suite("raw_projects", _arrived_project_expectations(PROJECT_COLUMNS))


def tags_for_validation(tags: str, projects: str) -> str:
    """Tags as they arrived, plus the id of the batch's project each names (null where there is none).

    Membership is a join (of the DuckDB queries of both files) rather than a value set in the
    suite: Great Expectations copies an expectation's arguments several times per validation,
    which at a million project ids took minutes.
    """
    return (
        f"select t.*, p.id as {MATCHED_PROJECT} from ({tags}) t "
        f"left join (select distinct id from ({projects})) p on t.id = p.id"
    )


def raw_tags_suite():
    """Run on :func:`tags_for_validation`: known tags, one per project, each naming a project of the batch."""
    import great_expectations.expectations as gxe

    return _suite(
        "raw_tags",
        [
            gxe.ExpectTableColumnsToMatchOrderedList(column_list=[*TAG_COLUMNS, MATCHED_PROJECT]),
            gxe.ExpectColumnValuesToNotBeNull(column="id"),
            gxe.ExpectColumnValuesToNotBeNull(column="tag"),
            gxe.ExpectColumnValuesToMatchRegex(column="id", regex=ID_PATTERN),
            gxe.ExpectColumnValuesToBeUnique(column="id"),
            gxe.ExpectColumnValuesToBeInSet(column="tag", value_set=RAW_TAGS),
            # Ids compared as they arrived, so "42" and "042" stay two spellings; a null id fails above.
            gxe.ExpectColumnPairValuesToBeEqual(
                column_A="id", column_B=MATCHED_PROJECT, ignore_row_if="both_values_are_missing"
            ),
        ],
    )


def holdout_projects_suite():
    """Run on :func:`projects_for_validation` of the holdout file."""
    import great_expectations.expectations as gxe

    return _suite(
        "holdout_projects",
        [
            *_arrived_project_expectations(HOLDOUT_COLUMNS),
            gxe.ExpectColumnValuesToNotBeNull(column="tag"),
            gxe.ExpectColumnValuesToBeInSet(column="tag", value_set=CLASSES),
        ],
    )


def _learnable_expectations(holdout: pd.DataFrame) -> list:
    """Rows a model may learn from: model classes, one row per id and per text, none from the holdout.

    ``holdout`` is in the labeled layout; it is kept apart by id and by text.
    """
    import great_expectations.expectations as gxe

    return [
        gxe.ExpectColumnValuesToNotBeNull(column="text"),
        gxe.ExpectColumnValuesToNotBeNull(column="tag"),
        gxe.ExpectColumnValuesToBeInSet(column="tag", value_set=CLASSES),
        gxe.ExpectColumnValuesToBeUnique(column="id"),
        gxe.ExpectColumnValuesToBeUnique(column="text"),
        gxe.ExpectColumnValuesToNotBeInSet(column="id", value_set=sorted({int(i) for i in holdout["id"]})),
        gxe.ExpectColumnValuesToNotBeInSet(column="text", value_set=sorted(set(holdout["text"]))),
    ]


def labeled_projects_suite(holdout: pd.DataFrame):
    return _suite(
        "labeled_projects", [*_project_expectations(LABELED_COLUMNS), *_learnable_expectations(holdout)]
    )


def training_dataset_suite(holdout: pd.DataFrame, expected_rows: int):
    """The second line of defence, on the rows the model actually reads: all of the union, no more."""
    import great_expectations.expectations as gxe

    return _suite(
        "training_dataset",
        [gxe.ExpectTableRowCountToEqual(value=expected_rows), *_learnable_expectations(holdout)],
    )
