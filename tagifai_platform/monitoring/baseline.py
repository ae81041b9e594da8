"""What a model is monitored against, fitted when it is trained: its reference and its calibrator.

A served model is refit on every labeled project, so any split scored with it is training data:
its confidences there (0.93 on average on the real data) are far above what it shows on new
traffic (0.83), and normal windows raise confidence alarms. The baseline therefore comes from
models with the same parameters and threshold fitted on the other folds of the same rows: each
row's confidence, predicted tag and out-of-vocabulary rate are what a model says about a text it
has not seen. The same out-of-fold answers are the calibration data of the label-free estimate.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import pandas as pd

from tagifai_platform.ml.model import out_of_fold
from tagifai_platform.ml.tuning import tuning_sample
from tagifai_platform.monitoring.drift import Reference, class_mix, tokenize
from tagifai_platform.monitoring.estimation import Calibrator, calibrator_from_out_of_fold

# Five refits of a sample this size bound the cost at any data size; a reference of this many rows
# tells every drift test apart as well as the whole set would.
BASELINE_ROWS = 20_000


@dataclass(frozen=True)
class Baseline:
    reference: Reference
    calibrator: Calibrator


def honest_reference(
    labeled: pd.DataFrame,
    params: Mapping[str, Any] | None,
    threshold: float,
    *,
    folds: int = 5,
    seed: int = 0,
    model_version: str | None = None,
) -> tuple[Reference, pd.DataFrame]:
    """The reference of a model refit on every row of ``labeled``, from rows it was not fitted on.

    Confidences, predicted class mix and OOV rate come from ``folds``-fold (stratified, seeded)
    out-of-fold answers; lengths and vocabulary are those of ``labeled``, what the served model
    learned from. Also returns the out-of-fold frame (``text``, ``tag``, ``predicted``, one
    column of probabilities per class).
    """
    oof = out_of_fold(params, threshold, labeled, folds=folds, seed=seed)
    classes = [column for column in oof.columns if column not in ("text", "tag", "predicted", "fold")]
    unknown = unknown_tokens = 0
    for _, held in oof.groupby("fold"):
        fitted_on = oof.loc[~oof.index.isin(held.index), "text"]
        seen = frozenset(token for text in fitted_on for token in tokenize(text))
        tokens = [token for text in held["text"] for token in tokenize(text)]
        unknown += sum(token not in seen for token in tokens)
        unknown_tokens += len(tokens)
    vocabulary = sorted({token for text in labeled["text"] for token in tokenize(text)})
    reference = Reference(
        text_lengths=tuple(int(length) for length in labeled["text"].str.len()),
        vocabulary=tuple(vocabulary),
        oov_rate=unknown / unknown_tokens if unknown_tokens else 0.0,
        class_mix=class_mix(oof["predicted"]),
        confidences=tuple(float(value) for value in oof[classes].max(axis=1)),
        model_version=model_version,
    )
    return reference, oof


def fit_baseline(
    labeled: pd.DataFrame,
    params: Mapping[str, Any] | None,
    threshold: float,
    *,
    max_rows: int = BASELINE_ROWS,
    folds: int = 5,
    seed: int = 0,
    samples: int = 1000,
) -> Baseline:
    """The reference and calibrator of a model with ``params`` and ``threshold`` refit on ``labeled``
    (a stratified sample of ``max_rows`` of it, past that size)."""
    rows = tuning_sample(labeled.reset_index(drop=True), max_rows=max_rows, seed=seed)
    reference, oof = honest_reference(rows, params, threshold, folds=folds, seed=seed)
    return Baseline(reference, calibrator_from_out_of_fold(oof, samples=samples))
