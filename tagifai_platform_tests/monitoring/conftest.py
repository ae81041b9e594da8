"""One model trained on the real data for the whole folder, its baseline, and the real holdout."""

from datetime import UTC, datetime

import pytest

from tagifai_platform.ml.model import train_model
from tagifai_platform.ml.splits import split_dataset
from tagifai_platform.monitoring.baseline import fit_baseline

T0 = datetime(2024, 5, 1, 9, 0, tzinfo=UTC)


@pytest.fixture(scope="session")
def splits(labeled):
    return split_dataset(labeled, seed=1234)


@pytest.fixture(scope="session")
def model(splits):
    return train_model(None, splits.train, splits.validation)


@pytest.fixture(scope="session")
def baseline(splits, model):
    """What the pipeline logs with a model: out-of-fold answers on the rows it learned from."""
    return fit_baseline(splits.train, None, model.threshold)


@pytest.fixture(scope="session")
def reference(baseline):
    return baseline.reference
