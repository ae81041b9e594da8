"""How a fitted tagifai pipeline turns texts into answers, in a module that imports nothing of tagifai.

MLflow ships this file inside every registered model (``code_paths``), so that the model loads
and answers the same tags anywhere MLflow, scikit-learn and skops are installed, without this
project. The project imports the same functions, so there is one definition of the ``other``
fallback and of how texts are read from a request.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

FALLBACK_TAG = "other"


def as_texts(X: Any) -> list[str]:
    """The texts in ``X``: a string, a list or array of strings, a Series, or a frame with ``text``.

    MLflow's pyfunc hands the model a DataFrame, while callers in Python pass lists; a vectorizer
    given a DataFrame would silently iterate over its column names instead of its rows.
    """
    if isinstance(X, str):
        return [X]
    if isinstance(X, pd.DataFrame):
        if "text" in X.columns:
            return X["text"].astype(str).tolist()
        if X.shape[1] == 1:
            return X.iloc[:, 0].astype(str).tolist()
        raise ValueError(f"a frame to predict on needs a 'text' column, got {list(X.columns)}")
    return [str(text) for text in np.asarray(X, dtype=object).ravel()]


def apply_fallback(probabilities: np.ndarray, classes: np.ndarray, threshold: float) -> np.ndarray:
    """Top class per row, or ``other`` where the top probability is below ``threshold``."""
    top = classes[np.argmax(probabilities, axis=1)]
    return np.where(probabilities.max(axis=1) < threshold, FALLBACK_TAG, top).astype(object)


def answer_frame(probabilities: np.ndarray, classes: np.ndarray, threshold: float) -> pd.DataFrame:
    """One row per text: the ``tag``, then the probability of each class in a column named after it."""
    frame = pd.DataFrame(probabilities, columns=[str(label) for label in classes])
    frame.insert(0, "tag", apply_fallback(probabilities, classes, threshold).astype(str))
    return frame


def load_pipeline(path: str):
    """The fitted scikit-learn pipeline saved with skops at ``path``.

    skops rebuilds objects without running code from the file and refuses any type outside its
    default-trusted set (scikit-learn, NumPy, SciPy), which is all the pipeline is made of.
    """
    import skops.io

    return skops.io.load(path)
