"""Drift and live performance: real in-distribution and shifted traffic, and hand-made cases."""

import json

import pandas as pd
import pytest

from tagifai_platform.monitoring.drift import (
    WINDOW_COLUMNS,
    MonitoringReport,
    MonitoringThresholds,
    Reference,
    drift_plots,
    monitor,
    oov_rate,
    tokenize,
)
from tagifai_platform.monitoring.simulate import (
    NEW_TOPIC_TEXTS,
    in_distribution_texts,
    prediction_rows,
    shifted_texts,
)
from tagifai_platform_tests.monitoring.conftest import T0

CV, NLP, MLOPS, OTHER = "computer-vision", "natural-language-processing", "mlops", "other"


@pytest.fixture(scope="module")
def in_distribution(model, holdout):
    return prediction_rows(model, holdout["text"], "1", T0)


@pytest.fixture(scope="module")
def shifted(model):
    return prediction_rows(model, shifted_texts(60, seed=0), "1", T0)


def test_reference_describes_training_texts_and_answers_on_texts_not_fitted_on(reference, splits):
    assert len(reference.text_lengths) == len(splits.train)
    assert len(reference.confidences) == len(splits.train)
    assert set(reference.class_mix) == {CV, NLP, MLOPS, OTHER}
    assert sum(reference.class_mix.values()) == pytest.approx(1.0)
    assert "segmentation" in reference.vocabulary_set
    assert 0.05 < reference.oov_rate < 0.3  # unseen texts always bring some new words


def test_in_distribution_window_raises_no_alert(reference, in_distribution, holdout):
    report = monitor(reference, in_distribution, labels=holdout)

    assert report.alerts == ()
    assert report.enough_data and report.window_size == len(holdout)
    assert report.input.length_p_value > 0.05 and report.confidence.p_value > 0.05
    assert report.input.oov_rate == pytest.approx(report.input.reference_oov_rate, abs=0.05)
    assert report.prediction.js_distance < 0.1
    assert report.performance.labeled_rows == len(holdout) and report.performance.enough_labels
    assert report.performance.f1 > 0.8


def test_shifted_window_raises_input_and_model_drift_alerts(reference, shifted):
    report = monitor(reference, shifted)

    assert {"input", "confidence"} <= report.alert_families
    assert {"text_length", "oov_rate", "confidence"} <= {alert.metric for alert in report.alerts}
    assert report.input.oov_rate > report.input.reference_oov_rate + 0.3
    assert report.confidence.mean_delta < -0.15
    assert report.prediction.js_distance > 0.15  # mlops vanishes, though 60 rows are too few for chi-square
    assert report.performance.labeled_rows == 0 and report.performance.f1 is None


def test_live_performance_on_a_hand_made_window():
    reference = _reference()
    window = _window([("a", CV), ("b", NLP), ("c", NLP), ("unlabeled", CV)])
    labels = pd.DataFrame({"text": ["a", "b", "c", "b"], "tag": [CV, NLP, NLP, CV]})  # "b" relabeled to CV

    report = monitor(reference, window, MonitoringThresholds(min_labeled_rows=3, min_live_f1=0.9), labels)

    # truth CV, CV, NLP vs predicted CV, NLP, NLP: each class has F1 2/3
    assert report.performance.labeled_rows == 3 and report.performance.enough_labels
    assert report.performance.accuracy == pytest.approx(2 / 3)
    assert report.performance.f1 == pytest.approx(2 / 3)
    assert [alert.metric for alert in report.alerts if alert.family == "performance"] == ["live_f1"]
    assert not report.enough_data


def test_too_few_labels_give_a_figure_but_no_alert():
    labels = pd.DataFrame({"text": ["a"], "tag": [NLP]})
    report = monitor(_reference(), _window([("a", CV)]), labels=labels)

    assert report.performance.f1 == 0.0 and not report.performance.enough_labels
    assert "performance" not in report.alert_families


def test_tokens_and_oov_rate_count_word_occurrences():
    assert tokenize("YOLOv5: Real-time detection!") == ["yolov5", "real", "time", "detection"]
    assert oov_rate(["cats and cats", "dogs"], frozenset({"and", "dogs"})) == pytest.approx(2 / 4)


def test_report_and_reference_survive_a_json_round_trip(reference, shifted, holdout):
    report = monitor(reference, shifted, labels=holdout)
    assert MonitoringReport.from_dict(json.loads(json.dumps(report.to_dict()))) == report
    assert Reference.from_dict(json.loads(json.dumps(reference.to_dict()))) == reference


def test_an_empty_window_is_reported_not_judged(reference):
    report = monitor(reference, pd.DataFrame(columns=WINDOW_COLUMNS))

    assert report.window_size == 0 and not report.enough_data and report.alerts == ()
    assert report.input is None and report.prediction is None and report.confidence is None
    assert MonitoringReport.from_dict(json.loads(json.dumps(report.to_dict()))) == report


def test_a_window_from_a_model_with_other_classes_is_an_error():
    with pytest.raises(ValueError, match="not among the reference's classes"):
        monitor(_reference(), _window([("a", "robotics")]))


def test_drift_plots_are_a_png(reference, shifted):
    assert drift_plots(reference, shifted).startswith(b"\x89PNG\r\n\x1a\n")


def test_simulated_rows_look_like_logged_predictions(model, labeled):
    texts = in_distribution_texts(labeled, 5, seed=3)
    rows = prediction_rows(model, texts, "7", T0)

    assert list(rows.columns) == WINDOW_COLUMNS
    assert rows["text"].tolist() == texts and rows["request_id"].is_unique
    assert (rows["model_version"] == "7").all() and rows["logged_at"].is_monotonic_increasing
    assert rows["confidence"].between(0.25, 1).all()
    assert shifted_texts(40, seed=1) == shifted_texts(40, seed=1)
    assert set(shifted_texts(40, seed=1)) <= set(NEW_TOPIC_TEXTS) and len(NEW_TOPIC_TEXTS) == 30


def _reference() -> Reference:
    return Reference(
        text_lengths=(1, 2, 3),
        vocabulary=("a", "b", "c"),
        oov_rate=0.0,
        class_mix={CV: 0.25, NLP: 0.25, MLOPS: 0.25, OTHER: 0.25},
        confidences=(0.9, 0.8, 0.7),
    )


def _window(rows: list[tuple[str, str]]) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "request_id": [f"r{i}" for i in range(len(rows))],
            "logged_at": pd.date_range(T0, periods=len(rows), freq="min"),
            "text": [text for text, _ in rows],
            "tag": [tag for _, tag in rows],
            "confidence": 0.9,
            "model_version": "1",
        }
    )
