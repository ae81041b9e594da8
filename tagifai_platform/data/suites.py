"""Great Expectations suites for tagifai's data, written as code.

Each builder returns a fresh ``ExpectationSuite``; the raw suites check what arrived, the labeled
suite checks what the model will learn from (including that no project leaks from the holdout).
"""

from __future__ import annotations

from collections.abc import Iterable

from tagifai_platform.data.schema import (
    CLASSES,
    HOLDOUT_COLUMNS,
    LABELED_COLUMNS,
    MAX_DESCRIPTION_LENGTH,
    MAX_TITLE_LENGTH,
    PROJECT_COLUMNS,
    RAW_TAGS,
    TAG_COLUMNS,
)

INTEGER = r"^\s*\d+\s*$"


def _suite(name: str, expectations: list):
    import great_expectations as gx

    return gx.ExpectationSuite(name=name, expectations=expectations)


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


def raw_projects_suite():
    import great_expectations.expectations as gxe

    return _suite(
        "raw_projects",
        [
            *_project_expectations(PROJECT_COLUMNS),
            gxe.ExpectColumnValuesToMatchRegex(column="id", regex=INTEGER),
            gxe.ExpectColumnValuesToBeDateutilParseable(column="created_on"),
        ],
    )


def raw_tags_suite(project_ids: Iterable[str]):
    """Tags must name known projects; ``project_ids`` are the ids of the same batch's projects."""
    import great_expectations.expectations as gxe

    return _suite(
        "raw_tags",
        [
            gxe.ExpectTableColumnsToMatchOrderedList(column_list=TAG_COLUMNS),
            gxe.ExpectColumnValuesToNotBeNull(column="id"),
            gxe.ExpectColumnValuesToNotBeNull(column="tag"),
            gxe.ExpectColumnValuesToMatchRegex(column="id", regex=INTEGER),
            gxe.ExpectColumnValuesToBeUnique(column="id"),
            gxe.ExpectColumnValuesToBeInSet(column="tag", value_set=RAW_TAGS),
            gxe.ExpectColumnValuesToBeInSet(column="id", value_set=sorted(set(project_ids))),
        ],
    )


def holdout_projects_suite():
    import great_expectations.expectations as gxe

    return _suite(
        "holdout_projects",
        [
            *_project_expectations(HOLDOUT_COLUMNS),
            gxe.ExpectColumnValuesToMatchRegex(column="id", regex=INTEGER),
            gxe.ExpectColumnValuesToBeDateutilParseable(column="created_on"),
            gxe.ExpectColumnValuesToNotBeNull(column="tag"),
            gxe.ExpectColumnValuesToBeInSet(column="tag", value_set=CLASSES),
        ],
    )


def labeled_projects_suite(holdout_ids: Iterable[int]):
    import great_expectations.expectations as gxe

    return _suite(
        "labeled_projects",
        [
            *_project_expectations(LABELED_COLUMNS),
            gxe.ExpectColumnValuesToNotBeNull(column="tag"),
            gxe.ExpectColumnValuesToBeInSet(column="tag", value_set=CLASSES),
            gxe.ExpectColumnValuesToBeUnique(column="text"),
            gxe.ExpectColumnValuesToNotBeInSet(column="id", value_set=sorted({int(i) for i in holdout_ids})),
        ],
    )
