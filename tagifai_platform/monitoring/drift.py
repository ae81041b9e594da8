"""Is the traffic the champion sees still the traffic it was trained for?

A window of logged predictions is compared with a ``Reference`` stored when the model was
trained. Alerts come in five families: ``input`` (text length, vocabulary), visible before any
model runs; ``prediction`` and ``confidence`` (class mix, top probability), how the model reacts;
``estimated_performance`` (the F1 expected from calibrated probabilities, see
:mod:`~tagifai_platform.monitoring.estimation`), a label-free guess at "worse" rather than
"different"; and ``performance`` (weighted F1 where annotators labeled logged texts), the only one
that says whether the model is wrong rather than merely surprised.

Labels arrive late: live performance only counts requests logged at least ``label_delay_hours``
before ``now``, when their labels have had time to arrive. Otherwise the first labels to come back
(often the hard, queued texts) would make a half-labeled window look like a drop.

The tests are the standard ones (two-sample Kolmogorov-Smirnov, chi-square goodness of fit) and,
where a natural effect size exists, an alert needs it as well as the p-value: on a few hundred
requests a p-value alone flags shifts too small to matter.
"""

from __future__ import annotations

import io
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import asdict, dataclass, replace
from datetime import datetime, timedelta
from functools import cached_property
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats
from scipy.spatial.distance import jensenshannon
from sklearn.metrics import accuracy_score, f1_score

from tagifai_platform.monitoring.estimation import EstimatedPerformance
from tagifai_platform.settings import Settings

WINDOW_COLUMNS = ["request_id", "logged_at", "text", "tag", "confidence", "model_version"]
INPUT, PERFORMANCE, ESTIMATED = "input", "performance", "estimated_performance"
FAMILIES = (INPUT, "prediction", "confidence", ESTIMATED, PERFORMANCE)

_TOKEN = re.compile(r"[a-z0-9]+")


def tokenize(text: str) -> list[str]:
    """Lowercase alphanumeric runs, so ``YOLOv5`` stays one token as a reader would see it."""
    return _TOKEN.findall(text.lower())


def oov_rate(texts: Iterable[str], vocabulary: frozenset[str]) -> float:
    """Share of word tokens (not of distinct words) outside ``vocabulary``: frequent unknowns weigh more."""
    tokens = [token for text in texts for token in tokenize(text)]
    return sum(token not in vocabulary for token in tokens) / len(tokens) if tokens else 0.0


def confidence_of(prediction: Mapping[str, Any]) -> float:
    """The top probability of one ``predict`` result: what serving logs and what drift compares."""
    return max(prediction["probabilities"].values())


def class_mix(tags: Iterable[str]) -> dict[str, float]:
    shares = pd.Series(list(tags), dtype=object).value_counts(normalize=True).sort_index()
    return {str(tag): float(share) for tag, share in shares.items()}


@dataclass(frozen=True)
class Reference:
    """What "normal" looked like for one model, stored as JSON next to it.

    Lengths, vocabulary and class mix come from the training data, what the model learned from.
    The OOV rate and confidences come from a held-out reference set, because on its own training
    data a model knows every word and is always confident: a window can only be fairly compared
    with other unseen texts.
    """

    text_lengths: tuple[int, ...]
    vocabulary: tuple[str, ...]
    oov_rate: float
    class_mix: dict[str, float]
    confidences: tuple[float, ...]
    model_version: str | None = None

    @cached_property
    def vocabulary_set(self) -> frozenset[str]:
        return frozenset(self.vocabulary)

    def to_dict(self) -> dict[str, Any]:
        return {
            "text_lengths": list(self.text_lengths),
            "vocabulary": list(self.vocabulary),
            "oov_rate": self.oov_rate,
            "class_mix": dict(self.class_mix),
            "confidences": list(self.confidences),
            "model_version": self.model_version,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Reference:
        return cls(
            text_lengths=tuple(int(length) for length in data["text_lengths"]),
            vocabulary=tuple(data["vocabulary"]),
            oov_rate=float(data["oov_rate"]),
            class_mix={str(tag): float(share) for tag, share in data["class_mix"].items()},
            confidences=tuple(float(value) for value in data["confidences"]),
            model_version=data.get("model_version"),
        )


@dataclass(frozen=True)
class MonitoringThresholds:
    """When a signal becomes an alert. ``alpha`` is per test: three tests at 0.01 keep false alarms rare."""

    alpha: float = 0.01
    length_ks: float = 0.2  # KS distance between text-length distributions: the effect a p-value needs
    oov_increase: float = 0.10  # absolute increase of the token OOV rate over the reference's
    js_distance: float = 0.15  # Jensen-Shannon distance (base 2, in [0, 1]) between class mixes
    confidence_drop: float = 0.10  # fall of the mean top probability
    min_live_f1: float = 0.75
    min_window_size: int = Settings.monitoring_min_window
    min_labeled_rows: int = Settings.min_live_labels
    label_delay_hours: float = Settings.label_delay_hours
    estimated_f1_drop: float = Settings.estimated_f1_drop  # below the reference's estimate, beyond noise


@dataclass(frozen=True)
class InputDrift:
    length_ks_statistic: float
    length_p_value: float
    mean_length: float
    reference_mean_length: float
    oov_rate: float
    reference_oov_rate: float


@dataclass(frozen=True)
class PredictionDrift:
    class_mix: dict[str, float]
    reference_class_mix: dict[str, float]
    chi2_statistic: float
    chi2_p_value: float
    js_distance: float


@dataclass(frozen=True)
class ConfidenceDrift:
    mean_confidence: float
    reference_mean_confidence: float
    mean_delta: float
    ks_statistic: float
    p_value: float


@dataclass(frozen=True)
class LivePerformance:
    """Weighted F1 where true tags arrived, with the label-free estimate on the same rows beside it."""

    labeled_rows: int
    enough_labels: bool
    f1: float | None
    accuracy: float | None
    matured_rows: int | None = None  # requests old enough for their labels to have arrived
    estimated_f1: float | None = None
    estimate_error: float | None = None  # estimated minus realised F1


@dataclass(frozen=True)
class Alert:
    metric: str
    family: str  # one of FAMILIES
    value: float
    threshold: float
    message: str


@dataclass(frozen=True)
class MonitoringReport:
    """One window's figures and alerts. The drift sections are ``None`` for an empty window."""

    window_size: int
    enough_data: bool
    model_versions: dict[str, int]
    window_start: str | None
    window_end: str | None
    input: InputDrift | None
    prediction: PredictionDrift | None
    confidence: ConfidenceDrift | None
    performance: LivePerformance
    alerts: tuple[Alert, ...]
    thresholds: MonitoringThresholds
    estimated: EstimatedPerformance | None = None

    @property
    def alert_families(self) -> set[str]:
        return {alert.family for alert in self.alerts}

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["alerts"] = list(data["alerts"])
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> MonitoringReport:
        def section(kind, value):
            return None if value is None else kind(**value)

        return cls(
            window_size=int(data["window_size"]),
            enough_data=bool(data["enough_data"]),
            model_versions={str(version): int(n) for version, n in data["model_versions"].items()},
            window_start=data["window_start"],
            window_end=data["window_end"],
            input=section(InputDrift, data["input"]),
            prediction=section(PredictionDrift, data["prediction"]),
            confidence=section(ConfidenceDrift, data["confidence"]),
            performance=LivePerformance(**data["performance"]),
            alerts=tuple(Alert(**alert) for alert in data["alerts"]),
            thresholds=MonitoringThresholds(**data["thresholds"]),
            estimated=section(EstimatedPerformance, data.get("estimated")),
        )


def input_drift(reference: Reference, window: pd.DataFrame) -> InputDrift:
    lengths = window["text"].str.len().to_numpy()
    test = stats.ks_2samp(lengths, np.asarray(reference.text_lengths))
    return InputDrift(
        length_ks_statistic=float(test.statistic),
        length_p_value=float(test.pvalue),
        mean_length=float(lengths.mean()),
        reference_mean_length=float(np.mean(reference.text_lengths)),
        oov_rate=oov_rate(window["text"], reference.vocabulary_set),
        reference_oov_rate=reference.oov_rate,
    )


def prediction_drift(reference: Reference, window: pd.DataFrame) -> PredictionDrift:
    """Chi-square of the predicted class counts against the training mix, with the JS distance as effect size.

    A tag the reference has never seen means the window comes from a model with other classes,
    so comparing is meaningless and it is an error rather than drift.
    """
    classes = sorted(reference.class_mix)
    unknown = sorted(set(window["tag"]) - set(classes))
    if unknown:
        raise ValueError(f"window tags {unknown} are not among the reference's classes {classes}")
    observed = window["tag"].value_counts().reindex(classes, fill_value=0).to_numpy(dtype=float)
    expected = np.array([reference.class_mix[tag] for tag in classes])
    test = stats.chisquare(observed, expected * observed.sum())
    return PredictionDrift(
        class_mix={tag: float(n / observed.sum()) for tag, n in zip(classes, observed, strict=True)},
        reference_class_mix=dict(reference.class_mix),
        chi2_statistic=float(test.statistic),
        chi2_p_value=float(test.pvalue),
        js_distance=float(jensenshannon(observed / observed.sum(), expected, base=2)),
    )


def confidence_drift(reference: Reference, window: pd.DataFrame) -> ConfidenceDrift:
    confidences = window["confidence"].to_numpy(dtype=float)
    test = stats.ks_2samp(confidences, np.asarray(reference.confidences))
    mean, reference_mean = float(confidences.mean()), float(np.mean(reference.confidences))
    return ConfidenceDrift(
        mean_confidence=mean,
        reference_mean_confidence=reference_mean,
        mean_delta=mean - reference_mean,
        ks_statistic=float(test.statistic),
        p_value=float(test.pvalue),
    )


def truth_by_text(labels: pd.DataFrame) -> pd.Series:
    """True tag per text; a text labeled twice keeps its last tag."""
    return labels.drop_duplicates(subset=["text"], keep="last").set_index("text")["tag"]


def live_performance(
    window: pd.DataFrame, labels: pd.DataFrame | None, min_labeled_rows: int
) -> LivePerformance:
    """Weighted F1 and accuracy on the window's rows whose text has a true tag in ``labels``.

    Joined on text because that is what annotators see; a text labeled twice keeps its last tag.
    """
    if labels is None or window.empty:
        return LivePerformance(labeled_rows=0, enough_labels=False, f1=None, accuracy=None)
    truth = truth_by_text(labels)
    joined = window.assign(true_tag=window["text"].map(truth)).dropna(subset=["true_tag"])
    if joined.empty:
        return LivePerformance(labeled_rows=0, enough_labels=False, f1=None, accuracy=None)
    return LivePerformance(
        labeled_rows=len(joined),
        enough_labels=len(joined) >= min_labeled_rows,
        f1=float(f1_score(joined["true_tag"], joined["tag"], average="weighted", zero_division=0)),
        accuracy=float(accuracy_score(joined["true_tag"], joined["tag"])),
    )


def matured(window: pd.DataFrame, now: datetime, delay_hours: float) -> pd.DataFrame:
    """The rows of ``window`` logged ``delay_hours`` or more before ``now``: labels had time to arrive."""
    cutoff = pd.Timestamp(now - timedelta(hours=delay_hours))
    logged_at = pd.to_datetime(window["logged_at"], utc=True)
    return window[logged_at <= (cutoff if cutoff.tzinfo else cutoff.tz_localize("UTC"))]


def alerts_for(
    inputs: InputDrift | None,
    prediction: PredictionDrift | None,
    confidence: ConfidenceDrift | None,
    performance: LivePerformance,
    thresholds: MonitoringThresholds,
    estimated: EstimatedPerformance | None = None,
) -> list[Alert]:
    t = thresholds
    alerts = []
    if inputs is not None and inputs.length_p_value < t.alpha and inputs.length_ks_statistic >= t.length_ks:
        message = (
            f"text length shifted (mean {inputs.mean_length:.0f} vs {inputs.reference_mean_length:.0f}"
            f" characters, KS p={inputs.length_p_value:.2g})"
        )
        alerts.append(Alert("text_length", "input", inputs.length_p_value, t.alpha, message))
    if inputs is not None and inputs.oov_rate - inputs.reference_oov_rate >= t.oov_increase:
        message = f"{inputs.oov_rate:.0%} of words unknown to training vs {inputs.reference_oov_rate:.0%}"
        alerts.append(
            Alert("oov_rate", "input", inputs.oov_rate - inputs.reference_oov_rate, t.oov_increase, message)
        )
    mix_moved = prediction is not None and prediction.js_distance >= t.js_distance
    if mix_moved and prediction.chi2_p_value < t.alpha:
        message = (
            f"predicted class mix moved (JS distance {prediction.js_distance:.2f},"
            f" chi-square p={prediction.chi2_p_value:.2g})"
        )
        alerts.append(Alert("class_mix", "prediction", prediction.js_distance, t.js_distance, message))
    confidence_fell = confidence is not None and -confidence.mean_delta >= t.confidence_drop
    if confidence_fell and confidence.p_value < t.alpha:
        message = (
            f"mean confidence fell to {confidence.mean_confidence:.2f} from"
            f" {confidence.reference_mean_confidence:.2f} (KS p={confidence.p_value:.2g})"
        )
        alerts.append(Alert("confidence", "confidence", -confidence.mean_delta, t.confidence_drop, message))
    if (
        estimated is not None
        and estimated.drop >= t.estimated_f1_drop
        and estimated.high < estimated.reference_f1
    ):
        message = (
            f"estimated F1 {estimated.f1:.2f} [{estimated.low:.2f}, {estimated.high:.2f}] without labels,"
            f" {estimated.drop:.2f} below the reference's {estimated.reference_f1:.2f}"
        )
        alerts.append(Alert("estimated_f1", ESTIMATED, estimated.drop, t.estimated_f1_drop, message))
    if performance.enough_labels and performance.f1 < t.min_live_f1:
        message = (
            f"live weighted F1 {performance.f1:.2f} on {performance.labeled_rows} labeled requests"
            f" is below {t.min_live_f1:.2f}"
        )
        alerts.append(Alert("live_f1", "performance", performance.f1, t.min_live_f1, message))
    return alerts


def monitor(
    reference: Reference,
    window: pd.DataFrame,
    thresholds: MonitoringThresholds | None = None,
    labels: pd.DataFrame | None = None,
    *,
    now: datetime | None = None,
    labeled_window: pd.DataFrame | None = None,
    estimator: Callable[[pd.DataFrame], EstimatedPerformance] | None = None,
    period: tuple[datetime, datetime] | None = None,
) -> MonitoringReport:
    """Compare a window of logged predictions (``WINDOW_COLUMNS``) with ``reference``.

    ``labels`` (``text``, ``tag``) holds annotators' true tags for some logged texts. The figures
    are computed for any non-empty window; whether they are enough evidence to act on is
    ``enough_data``, left to the policy, so a small window is still visible on a dashboard.

    Live performance is measured on ``labeled_window`` (default: ``window``), and, when ``now``
    is given, only on its rows logged ``label_delay_hours`` before it; with a delay longer than the
    window, pass the earlier window whose labels are in. ``estimator`` (a fitted
    :class:`~tagifai_platform.monitoring.estimation.Calibrator`'s ``estimate``) adds the
    label-free estimate of the window, and on the labeled rows the estimate beside the realised F1.
    ``period`` is the window's nominal start and end (default: its first and last request's times),
    which the policy uses to tell consecutive windows from overlapping or distant ones.
    """
    thresholds = thresholds or MonitoringThresholds()
    missing = sorted(set(WINDOW_COLUMNS) - set(window.columns))
    if missing:
        raise ValueError(f"the window lacks columns {missing}")
    if window.empty:
        inputs = prediction = confidence = None
        start = end = None
    else:
        inputs = input_drift(reference, window)
        prediction = prediction_drift(reference, window)
        confidence = confidence_drift(reference, window)
        logged_at = pd.to_datetime(window["logged_at"])
        start, end = logged_at.min().isoformat(), logged_at.max().isoformat()
    if period is not None:
        start, end = (moment.isoformat() for moment in period)
    performance_rows = window if labeled_window is None else labeled_window
    if now is not None:
        performance_rows = matured(performance_rows, now, thresholds.label_delay_hours)
    performance = live_performance(performance_rows, labels, thresholds.min_labeled_rows)
    if now is not None:
        performance = replace(performance, matured_rows=len(performance_rows))
    estimated = None
    if estimator is not None and not window.empty:
        estimated = estimator(window)
        if performance.f1 is not None:
            on_labeled = estimator(
                performance_rows[performance_rows["text"].isin(truth_by_text(labels).index)]
            )
            performance = replace(
                performance, estimated_f1=on_labeled.f1, estimate_error=on_labeled.f1 - performance.f1
            )
    versions = window["model_version"].astype(str).value_counts().sort_index()
    return MonitoringReport(
        window_size=len(window),
        enough_data=len(window) >= thresholds.min_window_size,
        model_versions={str(version): int(n) for version, n in versions.items()},
        window_start=start,
        window_end=end,
        input=inputs,
        prediction=prediction,
        confidence=confidence,
        performance=performance,
        alerts=tuple(alerts_for(inputs, prediction, confidence, performance, thresholds, estimated)),
        thresholds=thresholds,
        estimated=estimated,
    )


def drift_plots(reference: Reference, window: pd.DataFrame) -> bytes:
    """A PNG of reference vs window: text length and confidence histograms, class mix bars.

    Built on a bare ``Figure`` (Agg canvas) rather than pyplot, so that a long-lived Dagster
    process never accumulates pyplot's global figures or depends on its backend setting.
    """
    from matplotlib.figure import Figure

    figure = Figure(figsize=(15, 4), layout="constrained")
    length_axis, confidence_axis, mix_axis = figure.subplots(1, 3)
    lengths = window["text"].str.len().to_numpy(dtype=float)
    length_bins = np.histogram_bin_edges(np.concatenate([reference.text_lengths, lengths]), bins=20)
    confidences = window["confidence"].to_numpy(dtype=float)
    for axis, expected, observed, bins, title in (
        (length_axis, reference.text_lengths, lengths, length_bins, "Text length (characters)"),
        (confidence_axis, reference.confidences, confidences, np.linspace(0, 1, 21), "Confidence"),
    ):
        axis.hist(expected, bins=bins, density=True, alpha=0.5, label="reference")
        axis.hist(observed, bins=bins, density=True, alpha=0.5, label="window")
        axis.set_title(title)
        axis.legend()
    classes = sorted(set(reference.class_mix) | set(window["tag"]))
    window_mix = class_mix(window["tag"])
    positions = np.arange(len(classes))
    for offset, mix, label in ((-0.2, reference.class_mix, "reference"), (0.2, window_mix, "window")):
        mix_axis.bar(positions + offset, [mix.get(tag, 0.0) for tag in classes], 0.4, label=label)
    mix_axis.set_xticks(positions, classes, rotation=20, ha="right")
    mix_axis.set_title("Class mix (training tags vs predicted)")
    mix_axis.legend()
    figure.suptitle(f"Reference vs window of {len(window)} predictions")
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=100)
    return buffer.getvalue()
