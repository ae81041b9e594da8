"""How good a model is: overall, per tag, on slices that matter, and against behavioural expectations.

One weighted F1 hides the cases a new model can quietly get worse at, so the report also scores
slices: short texts, where there is little to go on, and projects naming the architectures
(transformers, CNNs) that tempt a model to tag by buzzword. The behavioural tests follow Made With
ML's testing chapter: a neutral word change must not flip the tag (invariance), an indicative
phrase must pull it to the right tag (directional), and obvious one-liners must be right
(minimum functionality).

Everything returned is plain JSON (floats, ints, lists, ``None``) so it can go straight into
MLflow, Dagster metadata or a registry tag.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd
from sklearn.metrics import confusion_matrix, precision_recall_fscore_support

from tagifai_platform.ml.tagger import apply_fallback

SHORT_TEXT_WORDS = 10

SLICES: dict[str, Callable[[pd.DataFrame], pd.Series]] = {
    "short_text": lambda df: df["text"].str.split().str.len() < SHORT_TEXT_WORDS,
    "transformers": lambda df: df["text"].str.contains(
        r"\b(?:transformers?|bert|gpt-?\d*|attention)\b", flags=re.IGNORECASE, regex=True
    ),
    "cnns": lambda df: df["text"].str.contains(
        r"\b(?:cnns?|convolutional|convnets?)\b", flags=re.IGNORECASE, regex=True
    ),
}

# (text, the same text with a word that should not matter changed)
INVARIANCE = [
    (
        "Transformers applied to NLP have revolutionized machine learning.",
        "Transformers applied to NLP have disrupted machine learning.",
    ),
    (
        "A dataset of street images for training object detection models.",
        "A dataset of city images for training object detection models.",
    ),
    (
        "Deploy and monitor machine learning models in production with Kubernetes.",
        "Deploy and monitor deep learning models in production with Kubernetes.",
    ),
]

# (a text that says little, a phrase that should decide the tag, that tag)
DIRECTIONAL = [
    (
        "A PyTorch project that trains a neural network",
        "to classify the sentiment of movie reviews.",
        "natural-language-processing",
    ),
    (
        "A PyTorch project that trains a neural network",
        "to detect objects and segment images.",
        "computer-vision",
    ),
    (
        "A PyTorch project that trains a neural network",
        "and deploys it to production with Docker, Kubernetes and CI/CD.",
        "mlops",
    ),
]

# (an obvious text, its tag)
MINIMUM_FUNCTIONALITY = [
    ("Natural language processing is the next big wave in machine learning.", "natural-language-processing"),
    ("Named entity recognition and machine translation with transformers.", "natural-language-processing"),
    ("Object detection and image segmentation with convolutional networks.", "computer-vision"),
    ("MLOps is the next big wave in machine learning.", "mlops"),
    ("Reinforcement learning agents that learn to play Atari games.", "other"),
    ("This is about graph neural networks.", "other"),
]


def weighted_scores(y_true: list[str], y_pred: list[str]) -> dict[str, Any]:
    """Weighted precision, recall and F1 with the row count; ``None`` scores for no rows."""
    if not y_true:
        return {"precision": None, "recall": None, "f1": None, "num_samples": 0}
    precision, recall, f1, _ = precision_recall_fscore_support(
        y_true, y_pred, average="weighted", zero_division=0
    )
    return {
        "precision": float(precision),
        "recall": float(recall),
        "f1": float(f1),
        "num_samples": len(y_true),
    }


def weighted_f1_rows(truth: np.ndarray, predicted: np.ndarray, classes: int) -> np.ndarray:
    """Weighted F1 of each row of ``truth``/``predicted`` (integer codes ``0..classes-1``, rows x texts).

    The same figure as scikit-learn's ``f1_score(average="weighted", zero_division=0)``, for
    thousands of resampled or simulated label sets at once (the gate's bootstrap, the performance
    estimate's interval): per class ``2 tp / (predicted + true)``, weighted by support.
    """
    n = truth.shape[1]
    total = np.zeros(truth.shape[0])
    for label in range(classes):
        is_true, is_predicted = truth == label, predicted == label
        true_k, predicted_k = is_true.sum(axis=1), is_predicted.sum(axis=1)
        tp = (is_true & is_predicted).sum(axis=1)
        denominator = true_k + predicted_k
        f1 = np.divide(2 * tp, denominator, out=np.zeros(len(total)), where=denominator > 0)
        total += f1 * true_k / n
    return total


def central_interval(values: np.ndarray, confidence: float) -> tuple[float, float]:
    """The percentile interval holding ``confidence`` of ``values`` (resampled or simulated scores)."""
    tail = (1 - confidence) / 2
    low, high = np.quantile(values, [tail, 1 - tail])
    return float(low), float(high)


def evaluate(model, df: pd.DataFrame, probabilities: np.ndarray | None = None) -> dict[str, Any]:
    """Overall, per-tag and per-slice scores of ``model`` on the labeled ``df``, and its confusion matrix.

    The confusion matrix's rows are true tags and columns predicted tags, both in ``labels`` order.
    ``probabilities`` are the model's answers on ``df``'s texts when they are already known (they
    cost minutes to compute again at a million projects).
    """
    if df.empty:
        raise ValueError("cannot evaluate on an empty frame")
    df = df.reset_index(drop=True)
    y_true = df["tag"].astype(str).tolist()
    predicted = (
        model.predict(df["text"])
        if probabilities is None
        else apply_fallback(probabilities, model.classes_, model.threshold)
    )
    y_pred = [str(tag) for tag in predicted]
    labels = sorted({*map(str, model.classes_), *y_true, *y_pred})

    precision, recall, f1, support = precision_recall_fscore_support(
        y_true, y_pred, labels=labels, zero_division=0
    )
    per_class = {
        label: {"precision": float(p), "recall": float(r), "f1": float(f), "support": int(s)}
        for label, p, r, f, s in zip(labels, precision, recall, f1, support, strict=True)
    }
    slices = {}
    for name, selects in SLICES.items():
        rows = selects(df).to_numpy()
        slices[name] = weighted_scores(
            [t for t, keep in zip(y_true, rows, strict=True) if keep],
            [p for p, keep in zip(y_pred, rows, strict=True) if keep],
        )
    return {
        "overall": weighted_scores(y_true, y_pred),
        "per_class": per_class,
        "slices": slices,
        "labels": labels,
        "confusion_matrix": confusion_matrix(y_true, y_pred, labels=labels).tolist(),
    }


def confusion_matrix_png(report: dict[str, Any]) -> bytes:
    """The confusion matrix of an :func:`evaluate` report drawn as a PNG.

    Drawn on a bare Agg figure rather than through pyplot, whose global state is not safe to
    share between the threads of a server or an orchestrator.
    """
    import io

    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    labels, matrix = report["labels"], report["confusion_matrix"]
    figure = Figure(figsize=(1.6 * len(labels) + 2, 1.4 * len(labels) + 1.5))
    FigureCanvasAgg(figure)
    axes = figure.add_subplot()
    image = axes.imshow(matrix, cmap="Blues")
    figure.colorbar(image, ax=axes)
    axes.set_xticks(range(len(labels)), labels, rotation=30, ha="right")
    axes.set_yticks(range(len(labels)), labels)
    axes.set_xlabel("predicted")
    axes.set_ylabel("true")
    peak = max((max(row) for row in matrix), default=0)
    for i, row in enumerate(matrix):
        for j, count in enumerate(row):
            axes.text(
                j, i, str(count), ha="center", va="center", color="white" if count > peak / 2 else "black"
            )
    figure.tight_layout()
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=100)
    return buffer.getvalue()


def behavioural_tests(model) -> dict[str, Any]:
    """Run the invariance, directional and minimum-functionality cases; counts per kind and failures."""
    cases = (
        [("invariance", [a, b], None) for a, b in INVARIANCE]
        + [("directional", [f"{base} {phrase}"], tag) for base, phrase, tag in DIRECTIONAL]
        + [("minimum_functionality", [text], tag) for text, tag in MINIMUM_FUNCTIONALITY]
    )
    predictions = iter(str(tag) for tag in model.predict([text for _, texts, _ in cases for text in texts]))
    by_kind: dict[str, dict[str, int]] = {}
    failures = []
    for kind, texts, expected in cases:
        predicted = [next(predictions) for _ in texts]
        passed = len(set(predicted)) == 1 if expected is None else predicted[0] == expected
        counts = by_kind.setdefault(kind, {"passed": 0, "failed": 0})
        counts["passed" if passed else "failed"] += 1
        if not passed:
            failures.append(
                {
                    "kind": kind,
                    "texts": texts,
                    "expected": expected or "the same tag for all",
                    "predicted": predicted,
                }
            )
    passed = sum(counts["passed"] for counts in by_kind.values())
    return {
        "passed": passed,
        "failed": len(cases) - passed,
        "total": len(cases),
        "pass_rate": passed / len(cases),
        "by_kind": by_kind,
        "failures": failures,
    }
