"""Fixtures for the feature-store tests: the real labeled projects and one published store."""

from __future__ import annotations

import os
import sys
from pathlib import Path

os.environ.setdefault("FEAST_USAGE", "False")

HERE = Path(__file__).resolve().parent
PROJECT_ROOT = HERE.parents[1]
if str(PROJECT_ROOT) not in sys.path:  # the package is not installed; make it importable
    sys.path.insert(0, str(PROJECT_ROOT))

import pandas as pd  # noqa: E402
import pytest  # noqa: E402

# <repo>/tagifai_platform_tests/features -> <repo>/../shared/datasets/madewithml
DATA_DIR = HERE.parents[2] / "shared" / "datasets" / "madewithml"
TAGS = {"computer-vision", "natural-language-processing", "mlops"}


def load_labeled(data_dir: Path = DATA_DIR) -> pd.DataFrame:
    projects = pd.read_csv(data_dir / "projects.csv")
    tags = pd.read_csv(data_dir / "tags.csv")
    frame = projects.merge(tags, on="id", how="inner")
    frame["id"] = frame["id"].astype("int64")
    frame["created_on"] = pd.to_datetime(frame["created_on"])
    frame["tag"] = frame["tag"].where(frame["tag"].isin(TAGS), "other")
    frame["text"] = frame["title"].fillna("") + " " + frame["description"].fillna("")
    return frame[["id", "created_on", "title", "description", "tag", "text"]].reset_index(drop=True)


@pytest.fixture(scope="session")
def labeled() -> pd.DataFrame:
    if not (DATA_DIR / "projects.csv").exists():
        pytest.skip(f"real data not found at {DATA_DIR}")
    return load_labeled()


@pytest.fixture(scope="module")
def published(labeled, tmp_path_factory):
    """Publish the real data once per module into ``<tmp>/home/feast``, from an empty cwd."""
    from tagifai_platform.features import feature_store, publish_features

    home = tmp_path_factory.mktemp("home")
    cwd = tmp_path_factory.mktemp("cwd")
    repo_dir = home / "feast"
    previous = os.getcwd()
    os.chdir(cwd)
    try:
        store = feature_store(repo_dir)
        figures = publish_features(store, labeled)
    finally:
        os.chdir(previous)
    return {"store": store, "repo_dir": repo_dir, "home": home, "cwd": cwd, "figures": figures}
