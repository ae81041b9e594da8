"""How good the champion is on traffic nobody has labeled yet: confidence-based performance estimation.

Labels arrive late or never, and drift statistics only say "different". If the model's
probabilities were calibrated (of the texts given 0.7 for ``mlops``, 70 % are ``mlops``), each
logged probability vector would be the distribution of that request's true tag, and the expected
confusion matrix of a window, hence its expected accuracy and weighted F1, would follow without a
single label. That is NannyML's CBPE; this module is a small version of it for this classifier.

Raw probabilities of a TF-IDF linear model are not calibrated, so each class's probability is
mapped through a curve fitted on labeled data the served model was not fitted on (the out-of-fold
answers of :func:`~tagifai_platform.monitoring.baseline.honest_reference`): isotonic regression, or a
sigmoid (Platt) for small data, both from scikit-learn, then rows renormalized. The interval comes
from simulating the window's true tags from the calibrated distributions (seeded): how far the
realised F1 of *this* window may land from its expectation. It assumes the calibration still holds,
which concept drift (the same text now meaning another tag) breaks; when labels do arrive,
:func:`~tagifai_platform.monitoring.drift.monitor` reports the estimate beside the realised F1.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import pandas as pd

from tagifai_platform.ml.evaluation import central_interval, weighted_f1_rows

METHODS = ("isotonic", "sigmoid")


@dataclass(frozen=True)
class EstimatedPerformance:
    """Expected weighted F1 and accuracy of a window without labels, with their intervals.

    ``drop`` is how far the estimate lies below ``reference_f1``, the estimate on the calibration
    data (what the model scores on unseen texts of the kind it was trained on).
    """

    rows: int
    f1: float
    low: float
    high: float
    accuracy: float
    accuracy_low: float
    accuracy_high: float
    reference_f1: float
    drop: float
    confidence: float


@dataclass(frozen=True)
class Calibrator:
    """Per-class calibration curves, JSON-ready (stored next to the model like its reference).

    For ``isotonic`` a curve is the fitted step function's (x, y) points, applied by linear
    interpolation; for ``sigmoid`` it is the slope and intercept on the log-odds of the raw probability.
    """

    classes: tuple[str, ...]
    method: str
    curves: dict[str, tuple[tuple[float, ...], tuple[float, ...]]]
    reference_f1: float = 0.0
    samples: int = 1000
    confidence: float = 0.95
    seed: int = 0

    def calibrate(self, probabilities: np.ndarray) -> np.ndarray:
        """Calibrated probabilities (rows sum to 1) of raw ``probabilities`` in ``classes`` order."""
        calibrated = np.column_stack(
            [self._curve(label, probabilities[:, i]) for i, label in enumerate(self.classes)]
        )
        totals = calibrated.sum(axis=1, keepdims=True)
        uniform = np.full_like(calibrated, 1 / len(self.classes))
        return np.divide(calibrated, totals, out=uniform, where=totals > 0)

    def _curve(self, label: str, raw: np.ndarray) -> np.ndarray:
        xs, ys = self.curves[label]
        if self.method == "isotonic":
            return np.interp(raw, xs, ys)
        (slope,), (intercept,) = xs, ys
        logit = np.log(np.clip(raw, 1e-6, 1 - 1e-6) / np.clip(1 - raw, 1e-6, 1))
        return 1 / (1 + np.exp(-(slope * logit + intercept)))

    def estimate(self, window: pd.DataFrame) -> EstimatedPerformance:
        """The expected F1 and accuracy of ``window`` (logged rows: ``tag`` and ``probabilities``)."""
        return estimate_performance(
            self, probability_matrix(window["probabilities"], self.classes), window["tag"]
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "classes": list(self.classes),
            "method": self.method,
            "curves": {label: [list(xs), list(ys)] for label, (xs, ys) in self.curves.items()},
            "reference_f1": self.reference_f1,
            "samples": self.samples,
            "confidence": self.confidence,
            "seed": self.seed,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Calibrator:
        return cls(
            classes=tuple(data["classes"]),
            method=data["method"],
            curves={label: (tuple(xs), tuple(ys)) for label, (xs, ys) in data["curves"].items()},
            reference_f1=float(data["reference_f1"]),
            samples=int(data["samples"]),
            confidence=float(data["confidence"]),
            seed=int(data["seed"]),
        )


def probability_matrix(probabilities: Sequence[Any], classes: Sequence[str]) -> np.ndarray:
    """Rows of logged probabilities (``{tag: p}`` dicts or their JSON) as an array in ``classes`` order."""
    parsed = [json.loads(row) if isinstance(row, str) else row for row in probabilities]
    return np.array([[float(row.get(label, 0.0)) for label in classes] for row in parsed]).reshape(
        len(parsed), len(classes)
    )


def fit_calibrator(
    probabilities: np.ndarray,
    truth: Sequence[str],
    predicted: Sequence[str],
    classes: Sequence[str],
    *,
    method: str = "isotonic",
    samples: int = 1000,
    confidence: float = 0.95,
    seed: int = 0,
) -> Calibrator:
    """One calibration curve per class, fitted on raw ``probabilities`` against the true tags.

    The data must be answers of a model that was not fitted on those rows (out-of-fold, validation):
    on its own training rows a model is confident and right, and the curves would say so.
    ``predicted`` (the tags served, fallback applied) gives the reference estimate.
    """
    from sklearn.isotonic import IsotonicRegression
    from sklearn.linear_model import LogisticRegression

    if method not in METHODS:
        raise ValueError(f"method must be one of {METHODS}, got {method!r}")
    truth = np.asarray([str(tag) for tag in truth])
    curves = {}
    for i, label in enumerate(classes):
        raw, hit = probabilities[:, i], (truth == label).astype(float)
        if method == "isotonic":
            fitted = IsotonicRegression(y_min=0.0, y_max=1.0, out_of_bounds="clip").fit(raw, hit)
            curves[label] = (tuple(map(float, fitted.X_thresholds_)), tuple(map(float, fitted.y_thresholds_)))
        else:
            logit = np.log(np.clip(raw, 1e-6, 1 - 1e-6) / np.clip(1 - raw, 1e-6, 1)).reshape(-1, 1)
            fitted = LogisticRegression(C=1e4).fit(logit, hit)
            curves[label] = ((float(fitted.coef_[0][0]),), (float(fitted.intercept_[0]),))
    calibrator = Calibrator(tuple(classes), method, curves, samples=samples, confidence=confidence, seed=seed)
    reference = estimate_performance(calibrator, probabilities, predicted)
    return replace(calibrator, reference_f1=reference.f1)


def calibrator_from_out_of_fold(oof: pd.DataFrame, **options) -> Calibrator:
    """:func:`fit_calibrator` on the out-of-fold frame of ``baseline.honest_reference``."""
    classes = [column for column in oof.columns if column not in ("text", "tag", "predicted", "fold")]
    return fit_calibrator(oof[classes].to_numpy(), oof["tag"], oof["predicted"], classes, **options)


def estimate_performance(
    calibrator: Calibrator, probabilities: np.ndarray, predicted: Sequence[str]
) -> EstimatedPerformance:
    """CBPE: the expected confusion matrix of the served tags under the calibrated probabilities.

    Per class, expected true positives are the calibrated probabilities of that class where it was
    served, false positives the rest of those rows, false negatives its probability elsewhere;
    weighted F1 follows with expected supports as weights. The interval is the spread of the F1
    of ``samples`` label sets drawn from the calibrated rows.
    """
    classes = list(calibrator.classes)
    served = np.array([classes.index(str(tag)) if str(tag) in classes else -1 for tag in predicted])
    if not len(served):
        raise ValueError("cannot estimate the performance of an empty window")
    calibrated = calibrator.calibrate(probabilities)
    one_hot = served[:, None] == np.arange(len(classes))[None, :]
    tp = (calibrated * one_hot).sum(axis=0)
    fp = ((1 - calibrated) * one_hot).sum(axis=0)
    fn = (calibrated * ~one_hot).sum(axis=0)
    support = calibrated.sum(axis=0)
    per_class = np.divide(2 * tp, 2 * tp + fp + fn, out=np.zeros(len(classes)), where=2 * tp + fp + fn > 0)
    f1 = float((per_class * support).sum() / support.sum())
    accuracy = float(np.where(served >= 0, calibrated[np.arange(len(served)), served], 0.0).mean())

    rng = np.random.default_rng(calibrator.seed)
    cumulative = np.cumsum(calibrated, axis=1)
    draws = (rng.random((calibrator.samples, len(served), 1)) > cumulative[None, :, :]).sum(axis=2)
    draws = np.minimum(draws, len(classes) - 1)
    served_rows = np.broadcast_to(served, draws.shape)
    f1s = weighted_f1_rows(draws, served_rows, len(classes))
    accuracies = (draws == served_rows).mean(axis=1)
    low, high = central_interval(f1s, calibrator.confidence)
    accuracy_low, accuracy_high = central_interval(accuracies, calibrator.confidence)
    return EstimatedPerformance(
        rows=len(served),
        f1=f1,
        low=low,
        high=high,
        accuracy=accuracy,
        accuracy_low=accuracy_low,
        accuracy_high=accuracy_high,
        reference_f1=calibrator.reference_f1,
        drop=calibrator.reference_f1 - f1,
        confidence=calibrator.confidence,
    )
