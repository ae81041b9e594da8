"""The real Made With ML data as labeled frames, and models trained on it once for the whole folder."""

from __future__ import annotations

import pytest

from tagifai_platform.ml.model import DEFAULT_PARAMS, TagClassifier, train_model
from tagifai_platform.ml.splits import split_dataset

SEED = 1234


@pytest.fixture(scope="session")
def splits(labeled):
    return split_dataset(labeled, seed=SEED, validation_fraction=0.15, test_fraction=0.15)


@pytest.fixture(scope="session")
def split_model(splits) -> TagClassifier:
    """What the pipeline trains: the train split, with the threshold tuned on validation."""
    return train_model(DEFAULT_PARAMS, splits.train, splits.validation)


@pytest.fixture(scope="session")
def full_model(labeled) -> TagClassifier:
    """The default model fitted on every labeled project (no threshold)."""
    return TagClassifier(DEFAULT_PARAMS).fit(labeled["text"], labeled["tag"])
