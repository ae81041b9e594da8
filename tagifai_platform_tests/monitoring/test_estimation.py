"""Label-free performance estimation, the honest reference, and live performance under label delay."""

import json
from dataclasses import replace
from datetime import timedelta

import numpy as np
import pytest
from sklearn.metrics import f1_score

from tagifai_platform.ml.model import DEFAULT_PARAMS, predict, refit, train_model
from tagifai_platform.monitoring.baseline import honest_reference
from tagifai_platform.monitoring.drift import confidence_of, monitor
from tagifai_platform.monitoring.estimation import (
    Calibrator,
    calibrator_from_out_of_fold,
    estimate_performance,
    fit_calibrator,
)
from tagifai_platform.monitoring.simulate import prediction_rows
from tagifai_platform_tests.monitoring.conftest import T0

CLASSES = ["computer-vision", "mlops", "natural-language-processing", "other"]


def calibrated_scores(n, rng, sharpness=1.0):
    """Probabilities and true tags drawn from them: calibrated by construction."""
    probabilities = rng.dirichlet(np.full(len(CLASSES), 0.3 * sharpness), size=n)
    cumulative = probabilities.cumsum(axis=1)
    truth = np.minimum((rng.random((n, 1)) > cumulative).sum(axis=1), len(CLASSES) - 1)
    predicted = probabilities.argmax(axis=1)
    return probabilities, np.array(CLASSES)[truth], np.array(CLASSES)[predicted]


@pytest.mark.parametrize("method", ["isotonic", "sigmoid"])
def test_the_estimate_holds_the_realised_f1_within_its_interval(method):
    rng = np.random.default_rng(0)
    calibrator = fit_calibrator(*calibrated_scores(3000, rng), CLASSES, method=method, samples=400)
    inside, errors = 0, []
    for _ in range(40):
        probabilities, truth, predicted = calibrated_scores(200, rng)
        estimate = estimate_performance(calibrator, probabilities, predicted)
        realised = f1_score(truth, predicted, average="weighted")
        inside += estimate.low <= realised <= estimate.high
        errors.append(estimate.f1 - realised)
    assert inside >= 34  # 95 % nominal over 40 windows
    assert abs(np.mean(errors)) < 0.02  # unbiased


def test_an_estimate_falls_when_the_model_grows_unsure():
    rng = np.random.default_rng(1)
    calibrator = fit_calibrator(*calibrated_scores(3000, rng), CLASSES)
    probabilities, _, predicted = calibrated_scores(300, rng, sharpness=4.0)  # flatter: less sure
    estimate = estimate_performance(calibrator, probabilities, predicted)
    assert estimate.drop > 0.1 and estimate.high < calibrator.reference_f1


def test_a_calibrator_survives_a_json_round_trip():
    calibrator = fit_calibrator(*calibrated_scores(500, np.random.default_rng(2)), CLASSES)
    assert Calibrator.from_dict(json.loads(json.dumps(calibrator.to_dict()))) == calibrator


@pytest.fixture(scope="module")
def served(splits, labeled):
    """What the pipeline serves: parameters and threshold chosen on the splits, refit on every row."""
    return refit(train_model(DEFAULT_PARAMS, splits.train, splits.validation), labeled)


@pytest.fixture(scope="module")
def honest(served, labeled):
    return honest_reference(labeled, DEFAULT_PARAMS, served.threshold, model_version="1")


def logged(model, texts, start=T0):
    rows = prediction_rows(model, texts, "1", start)
    return rows.assign(probabilities=[json.dumps(row["probabilities"]) for row in predict(model, texts)])


def test_normal_traffic_raises_confidence_alarms_only_against_a_refit_reference(
    served, honest, splits, holdout
):
    """Reproduced: the test split the served model was refit on made one window in three alarm."""
    reference, _ = honest
    refit_answers = predict(served, splits.test["text"])
    refit_reference = replace(reference, confidences=tuple(confidence_of(row) for row in refit_answers))
    assert np.mean(refit_reference.confidences) > np.mean(reference.confidences) + 0.05
    rows = logged(served, holdout["text"])
    rng = np.random.default_rng(0)
    windows = [rows.iloc[rng.choice(len(rows), 60, replace=False)] for _ in range(100)]
    alarms = {
        name: sum("confidence" in monitor(ref, window).alert_families for window in windows)
        for name, ref in (("refit", refit_reference), ("honest", reference))
    }
    assert alarms["refit"] >= 20 and alarms["honest"] <= 5, alarms


def test_on_real_traffic_estimate_and_realised_f1_are_reported_side_by_side(served, honest, holdout):
    reference, oof = honest
    calibrator = calibrator_from_out_of_fold(oof, samples=300)
    report = monitor(
        reference, logged(served, holdout["text"]), labels=holdout, estimator=calibrator.estimate
    )
    performance = report.performance
    assert report.estimated.low <= performance.f1 <= report.estimated.high
    assert performance.estimated_f1 == pytest.approx(performance.f1 + performance.estimate_error)
    assert "estimated_performance" not in report.alert_families


def test_live_performance_counts_only_requests_old_enough_for_their_labels(served, honest, holdout):
    reference, _ = honest
    rows = logged(served, holdout["text"], start=T0)  # one request a minute: 191 minutes of traffic
    now = T0 + timedelta(hours=3)
    # Only the hardest texts came back labeled so far: a label-order bias, not a worse model.
    hard = rows.nsmallest(40, "confidence")
    early = holdout[holdout["text"].isin(hard["text"])]
    naive = monitor(reference, rows, labels=early)
    delayed = monitor(reference, rows, labels=early, now=now)
    assert naive.performance.labeled_rows == 40
    assert delayed.performance.matured_rows == 0 and delayed.performance.labeled_rows == 0
    later = monitor(reference, rows, labels=holdout, now=now + timedelta(hours=48))
    assert later.performance.matured_rows == 181, "requests after minute 180 are not due yet"
    assert later.performance.enough_labels and later.performance.f1 > naive.performance.f1
