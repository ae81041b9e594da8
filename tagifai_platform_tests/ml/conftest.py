"""The real Made With ML data as labeled frames, and models trained on it once for the whole folder."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from tagifai_platform.ml.model import DEFAULT_PARAMS, FALLBACK_TAG, TAGS, TagClassifier, train_model
from tagifai_platform.ml.splits import split_dataset

DATA_DIR = Path(__file__).resolve().parents[2] / ".." / "shared" / "datasets" / "madewithml"
SEED = 1234


def with_text(frame: pd.DataFrame) -> pd.DataFrame:
    return frame.assign(text=frame["title"].fillna("") + " " + frame["description"].fillna(""))


@pytest.fixture(scope="session")
def projects_frame() -> pd.DataFrame:
    """projects.csv joined to tags.csv on id; tags the product does not name become ``other``."""
    projects = pd.read_csv(DATA_DIR / "projects.csv")
    tags = pd.read_csv(DATA_DIR / "tags.csv")
    frame = projects.merge(tags, on="id", how="inner", validate="one_to_one")
    frame["tag"] = frame["tag"].where(frame["tag"].isin(TAGS), FALLBACK_TAG)
    return with_text(frame)[["id", "created_on", "title", "description", "tag", "text"]]


@pytest.fixture(scope="session")
def holdout_frame() -> pd.DataFrame:
    return with_text(pd.read_csv(DATA_DIR / "holdout.csv"))


@pytest.fixture(scope="session")
def splits(projects_frame):
    return split_dataset(projects_frame, seed=SEED, validation_fraction=0.15, test_fraction=0.15)


@pytest.fixture(scope="session")
def split_model(splits) -> TagClassifier:
    """What the pipeline trains: the train split, with the threshold tuned on validation."""
    return train_model(DEFAULT_PARAMS, splits.train, splits.validation)


@pytest.fixture(scope="session")
def full_model(projects_frame) -> TagClassifier:
    """The default model fitted on every labeled project (no threshold)."""
    return TagClassifier(DEFAULT_PARAMS).fit(projects_frame["text"], projects_frame["tag"])
