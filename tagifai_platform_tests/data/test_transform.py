"""The transform: join, drop untagged, fold tags, build text, drop duplicates."""

import pandas as pd

from tagifai_platform.data.transform import fold_tag, label_projects, tag_distribution


def _projects(rows):
    return pd.DataFrame(rows, columns=["id", "created_on", "title", "description"]).astype(str)


def test_real_data_gives_the_expected_labeled_rows(labeled):
    assert len(labeled) == 764
    assert tag_distribution(labeled) == {
        "computer-vision": 285,
        "mlops": 63,
        "natural-language-processing": 310,
        "other": 106,
    }
    assert list(labeled.columns) == ["id", "created_on", "title", "description", "tag", "text"]
    assert labeled["id"].dtype == "int64" and str(labeled["created_on"].dtype).startswith("datetime64")


def test_tags_outside_the_classes_fold_into_other():
    assert fold_tag("graph-learning") == "other"
    assert fold_tag("mlops") == "mlops"


def test_untagged_and_duplicate_projects_are_dropped_and_text_is_built():
    projects = _projects(
        [
            ("1", "2020-01-01", "Vision  Transformer", "Images\nas patches"),
            ("2", "2020-01-02", "Untagged", "No tag for me"),
            ("3", "2020-01-03", "Vision Transformer", "Images as patches"),
        ]
    )
    tags = pd.DataFrame({"id": ["1", "3"], "tag": ["computer-vision", "time-series"]})
    labeled = label_projects(projects, tags)
    assert labeled["id"].tolist() == [1], "untagged 2 dropped; 3 duplicates 1's text and is later"
    assert labeled["text"].tolist() == ["Vision Transformer Images as patches"]
