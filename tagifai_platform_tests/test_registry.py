"""The model registry in a home that was copied, the original deleted: the copy works on its own files."""

import shutil
import sqlite3
from pathlib import Path

from tagifai_platform.harness import WEAK_PARAMS, register_model
from tagifai_platform.ml.model import predict
from tagifai_platform.registry import CHAMPION, LOCATION_COLUMNS, ModelRegistry, relocate_artifacts
from tagifai_platform.settings import load_settings


def recorded_locations(database) -> list[str]:
    with sqlite3.connect(database) as connection:
        return [
            value
            for table, column in LOCATION_COLUMNS
            for (value,) in connection.execute(f"select {column} from {table}")
            if value
        ]


def test_a_copied_home_loads_its_champion_and_registers_new_models_under_itself(tmp_path, labeled):
    original = load_settings({"TAGIFAI_HOME": str(tmp_path / "original")})
    register_model(original, labeled, champion=True)
    shutil.copytree(original.home, tmp_path / "copy")
    shutil.rmtree(original.home)
    copy = load_settings({"TAGIFAI_HOME": str(tmp_path / "copy")})
    registry = ModelRegistry(copy.mlflow_tracking_uri, copy.mlflow_artifacts)

    champion = registry.by_alias(CHAMPION)
    [answer] = predict(registry.load(champion), ["YOLO object detection in real time"])
    assert answer["tag"] == "computer-vision"
    new = register_model(copy, labeled, WEAK_PARAMS)

    assert registry.load(registry.get(new)) is not None
    assert len(list(Path(copy.mlflow_artifacts, "models").iterdir())) == 2, (
        "both models' files are in the copy"
    )
    assert not any(str(original.home) in location for location in recorded_locations(registry.database))
    assert not original.home.exists(), "nothing was written where the home came from"
    assert relocate_artifacts(registry.database, copy.mlflow_artifacts) is None, "a home that stays is as is"
