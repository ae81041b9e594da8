"""The labeling queue (uncertainty sampling) and the way annotations come back as labeled rows."""

import pandas as pd
import pytest

from tagifai_platform.data.schema import LABELED_COLUMNS
from tagifai_platform.monitoring.labeling import (
    QUEUE_COLUMNS,
    annotation_id,
    annotations_as_labeled,
    labeling_queue,
    read_annotated,
    texts_out_for_labeling,
)
from tagifai_platform.monitoring.retraining import compose_retraining_dataset
from tagifai_platform.monitoring.simulate import prediction_rows, shifted_texts
from tagifai_platform_tests.monitoring.conftest import T0

WINDOW = pd.DataFrame(
    {
        "request_id": ["r1", "r2", "r3", "r4", "r5", "r6"],
        "logged_at": pd.date_range(T0, periods=6, freq="h"),
        "text": ["sure", "unsure", "unsure", "middle", "tie old", "tie new"],
        "tag": ["mlops", "other", "other", "computer-vision", "mlops", "mlops"],
        "confidence": [0.95, 0.31, 0.31, 0.6, 0.5, 0.5],
        "model_version": "1",
    }
)


def test_queue_starts_with_the_least_confident_text_once_each():
    queue = labeling_queue(WINDOW, 4)

    assert list(queue.columns) == QUEUE_COLUMNS
    assert queue["text"].tolist() == ["unsure", "tie new", "tie old", "middle"]
    assert queue.loc[0, "request_id"] == "r3"  # a repeated text goes through its latest request
    assert queue["predicted_tag"].tolist() == ["other", "mlops", "mlops", "computer-vision"]
    assert queue["tag"].isna().all()


def test_queue_skips_texts_already_labeled_and_stops_at_size():
    assert labeling_queue(WINDOW, 2, exclude_texts=["unsure"])["text"].tolist() == ["tie new", "tie old"]
    assert len(labeling_queue(WINDOW, 100)) == 5


def test_new_topic_texts_lead_a_mixed_queue(model, holdout):
    window = prediction_rows(model, [*holdout["text"].head(100), *shifted_texts(30, seed=0)], "1", T0)

    queue = labeling_queue(window, 20)

    assert queue["text"].isin(shifted_texts(30, seed=0)).mean() >= 0.5
    assert queue["confidence"].is_monotonic_increasing


def test_annotations_become_labeled_rows_for_the_retraining_set():
    annotated = labeling_queue(WINDOW, 3).assign(tag=["mlops", None, "computer-vision"])

    labeled = annotations_as_labeled(annotated)

    assert list(labeled.columns) == LABELED_COLUMNS
    done = annotated.dropna(subset=["tag"])
    assert labeled["id"].tolist() == [annotation_id(text) for text in done["text"]]
    assert labeled["tag"].tolist() == ["mlops", "computer-vision"]
    assert labeled["created_on"].dt.tz is None  # naive UTC, like the projects' dates
    previous = pd.DataFrame(
        [[1, pd.Timestamp("2020-01-01"), "old", "", "other", "old"]], columns=LABELED_COLUMNS
    )
    dataset, report = compose_retraining_dataset(
        previous, labeled, holdout=labeled.iloc[:0], seed=0, recent_fraction=0.5
    )
    assert report["added"] == 2 and report["recent_eval"] == 1


def test_a_tag_outside_the_classes_is_refused():
    with pytest.raises(ValueError, match="robotics"):
        annotations_as_labeled(labeling_queue(WINDOW, 1).assign(tag=["robotics"]))


def annotated_file(directory, name, rows, encoding="utf-8", columns=("logged_at", "text", "tag")):
    path = directory / name
    frame = pd.DataFrame(rows, columns=["logged_at", "text", "tag"])[list(columns)]
    path.write_bytes(frame.to_csv(index=False).encode(encoding))
    return path


def test_an_annotated_file_in_cp1252_is_refused_naming_it(tmp_path):
    """Reproduced: a file saved as cp1252 made ``inspect`` fail with a bare UnicodeDecodeError."""
    path = annotated_file(tmp_path, "round2.csv", [["2024-05-01", "Café recommender", "other"]], "cp1252")
    with pytest.raises(ValueError, match=r"round2\.csv is not UTF-8.*save it as CSV UTF-8"):
        read_annotated([path])


def test_an_annotated_file_without_logged_at_is_refused_naming_it(tmp_path):
    """Reproduced: a ``text,tag`` file gave ``KeyError 'logged_at'``."""
    path = annotated_file(tmp_path, "short.csv", [["2024-05-01", "x", "mlops"]], columns=("text", "tag"))
    with pytest.raises(ValueError, match=r"short\.csv lacks the columns \['logged_at'\]"):
        read_annotated([path])


def test_unknown_tags_name_their_file(tmp_path):
    """Reproduced: tags ``computer vision``/``NLP`` failed the retraining without saying where they were."""
    good = annotated_file(tmp_path, "good.csv", [["2024-05-01", "a", "mlops"]])
    bad = annotated_file(
        tmp_path, "bad.csv", [["2024-05-01", "b", "computer vision"], ["2024-05-01", "c", "NLP"]]
    )
    with pytest.raises(ValueError, match=r"\['NLP', 'computer vision'\].*bad\.csv"):
        annotations_as_labeled(read_annotated([good, bad]))


def test_a_second_inspection_does_not_queue_the_same_texts_again(tmp_path):
    """Reproduced: two ``inspect`` runs on the same traffic queued the same texts twice."""
    first = labeling_queue(WINDOW, 2)
    path = tmp_path / "queue-1.csv"
    first.to_csv(path, index=False)
    second = labeling_queue(WINDOW, 2, exclude_texts=texts_out_for_labeling([path]))
    assert len(second) == 2 and not set(first["text"]) & set(second["text"])
