"""Fixtures for the feature-store tests: one store published from the real labeled projects."""

import os

import pytest


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
