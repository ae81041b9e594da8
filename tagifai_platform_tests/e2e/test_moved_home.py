"""A home copied elsewhere, the original deleted: the copy serves its champion and trains into itself."""

import json
import shutil
from pathlib import Path

from tagifai_platform.registry import CHALLENGER, ModelRegistry
from tagifai_platform.settings import load_settings
from tagifai_platform_tests.e2e.conftest import run
from tagifai_platform_tests.test_registry import recorded_locations

PREDICT = ["tagifai", "predict", "YOLO object detection in real time"]


def env_for(env: dict, home) -> dict:
    return {**env, "TAGIFAI_HOME": str(home), "DAGSTER_HOME": str(home / "dagster")}


def test_a_copied_home_keeps_working_once_the_original_is_deleted(trained_home, tmp_path):
    env, root = trained_home
    # The session's trained home is shared, so the original is a copy of it that has settled in its
    # own folder (any command does that); that original is then copied and deleted.
    original, copy = tmp_path / "original", tmp_path / "copy"
    shutil.copytree(root / "home", original)
    assert run(PREDICT, env_for(env, original), cwd=tmp_path).returncode == 0
    shutil.copytree(original, copy)
    shutil.rmtree(original)

    predicted = run(PREDICT, env_for(env, copy), cwd=tmp_path)
    assert predicted.returncode == 0, predicted.stderr[-3000:]
    assert json.loads(predicted.stdout)["model_version"] == 1
    retrained = run(
        ["dagster", "job", "execute", "-m", "tagifai_platform.definitions", "-j", "mlops"],
        env_for(env, copy),
        cwd=tmp_path,
        timeout=600,
    )
    # The same data trains the same model, which the paired gate refuses (an equal score is no gain);
    # what matters here is that it was trained, logged and registered in the copy.
    output = retrained.stdout + retrained.stderr
    assert retrained.returncode == 0 or "learned from no data the champion lacks" in output, output[-3000:]

    settings = load_settings({"TAGIFAI_HOME": str(copy)})
    registry = ModelRegistry(settings.mlflow_tracking_uri, settings.mlflow_artifacts)
    assert registry.by_alias(CHALLENGER).version == 2
    assert len(list(Path(settings.mlflow_artifacts, "models").iterdir())) == 2, "the new model is in the copy"
    locations = recorded_locations(registry.database)
    assert not [place for place in locations if str(original) in place or str(root / "home") in place]
    assert sorted(path.name for path in tmp_path.iterdir()) == ["copy"], "nothing written where it came from"
