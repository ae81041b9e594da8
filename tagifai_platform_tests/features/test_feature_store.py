from __future__ import annotations

import json
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path

import dask
import pandas as pd
import pytest

from tagifai_platform.features import (
    FEATURES,
    ONLINE_FEATURES,
    entity_frame,
    offline_frame,
    online_features,
    publish_features,
    repo,
    training_frame,
)
from tagifai_platform.features.store import changed_rows, write_online

PROJECT_ROOT = Path(__file__).resolve().parents[2]


def test_importing_features_does_not_import_feast():
    code = "import sys, tagifai_platform.features; print('feast' in sys.modules)"
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=PROJECT_ROOT, capture_output=True, text=True, check=True
    )
    assert out.stdout.strip() == "False"


def test_offline_frame_derives_counts_and_utc_timestamps():
    labeled = pd.DataFrame(
        {
            "id": [1, 2],
            "created_on": pd.to_datetime(["2020-03-01 10:00:00", "2020-03-02 11:30:00"]),
            "title": ["Three word title", "One"],
            "description": ["a b c d", None],
            "tag": ["mlops", "other"],
            "text": ["Three word title a b c d", "One "],
        }
    )
    frame = offline_frame(labeled)
    assert frame["title_word_count"].tolist() == [3, 1]
    assert frame["description_word_count"].tolist() == [4, 0]
    assert frame["text_char_count"].tolist() == [24, 4]
    assert str(frame["event_timestamp"].dt.tz) == "UTC"
    assert frame["event_timestamp"].iloc[0] == pd.Timestamp("2020-03-01 10:00:00", tz="UTC")
    assert frame["created"].notna().all()
    with pytest.raises(ValueError, match="lacks columns"):
        offline_frame(labeled.drop(columns=["text"]))


def test_publish_writes_only_under_repo_dir(published, labeled):
    figures, repo_dir = published["figures"], published["repo_dir"]
    assert figures["rows"] == len(labeled) == 764
    assert figures["features"] == list(FEATURES)
    assert figures["online_features"] == list(ONLINE_FEATURES) == ["tag"]
    for key in ("path", "registry", "online_store"):
        path = Path(figures[key])
        assert path.is_file(), key
        assert path.is_relative_to(repo_dir.resolve()), key
    # nothing beside the repo dir in the home, nothing at all in the working directory
    assert [p.name for p in published["home"].iterdir()] == ["feast"]
    assert list(published["cwd"].iterdir()) == []

    parquet = pd.read_parquet(figures["path"])
    assert len(parquet) == 764
    assert {"id", "event_timestamp", "created", *FEATURES} <= set(parquet.columns)
    by_id = parquet.set_index("id")
    expected = labeled.set_index("id")
    assert (by_id.loc[expected.index, "event_timestamp"].dt.tz_localize(None) == expected["created_on"]).all()


def test_historical_retrieval_returns_every_row_in_entity_order(published, labeled):
    shuffled = labeled.sample(frac=1.0, random_state=7).reset_index(drop=True)
    entities = entity_frame(shuffled["id"], shuffled["created_on"] + pd.Timedelta(days=1))
    frame = training_frame(published["store"], entities)
    assert len(frame) == 764
    assert list(frame.columns) == ["id", *FEATURES]
    assert frame["id"].tolist() == shuffled["id"].tolist()
    assert frame["tag"].tolist() == shuffled["tag"].tolist()
    assert frame["text"].tolist() == shuffled["text"].tolist()
    assert frame[["title_word_count", "description_word_count", "text_char_count"]].notna().all().all()
    assert set(frame["tag"]) == {"computer-vision", "natural-language-processing", "mlops", "other"}
    assert frame["text"].dtype == object and frame["tag"].dtype == object
    # Feast's own setting, which the retrieval changes for its own call only.
    assert dask.config.get("dataframe.convert-string") is False


def test_historical_retrieval_at_created_on_itself(published, labeled):
    # an entity timestamp equal to the event timestamp sees the row; created_on is accepted as the column
    frame = training_frame(published["store"], labeled[["id", "created_on"]].head(20))
    assert frame["tag"].tolist() == labeled["tag"].head(20).tolist()


def test_point_in_time_nothing_before_created_on(published, labeled):
    rows = labeled.head(5)
    before = rows["created_on"] - pd.Timedelta(seconds=1)
    after = rows["created_on"] + pd.Timedelta(days=30)
    entities = pd.DataFrame(
        {
            "id": list(rows["id"]) * 2 + [int(rows["id"].iloc[0])],
            "event_timestamp": list(before) + list(after) + [before.iloc[0]],  # a repeated (id, ts) pair
        }
    )
    frame = training_frame(published["store"], entities)
    assert len(frame) == 11
    assert frame["id"].tolist() == entities["id"].tolist()
    early = frame.iloc[list(range(5)) + [10]]
    assert early[list(FEATURES)].isna().all().all()
    late = frame.iloc[5:10]
    assert late["tag"].tolist() == rows["tag"].tolist()
    assert late["text"].tolist() == rows["text"].tolist()


def test_online_features_return_the_current_tag_and_keep_the_text_offline(published, labeled):
    some = labeled.iloc[[0, 100, 500]]
    frame = online_features(published["store"], [*some["id"], 10**9])
    assert list(frame.columns) == ["id", "tag"]
    assert frame["id"].tolist() == [*some["id"], 10**9]
    assert frame["tag"].iloc[:3].tolist() == some["tag"].tolist()
    assert frame["tag"].iloc[3] is None
    # Only the tags are in the online store: the texts are in the parquet, for training.
    with sqlite3.connect(published["figures"]["online_store"]) as conn:
        tables = {name for (name,) in conn.execute("select name from sqlite_master where type = 'table'")}
        features = {
            name for (name,) in conn.execute("select distinct feature_name from tagifai_project_tags")
        }
    assert (tables, features) == ({"tagifai_project_tags"}, {"tag"})


def test_republish_is_idempotent(published, labeled):
    store, repo_dir = published["store"], published["repo_dir"]
    figures = publish_features(store, labeled)
    assert figures["rows"] == published["figures"]["rows"] == 764
    assert len(pd.read_parquet(figures["path"])) == 764
    with sqlite3.connect(figures["online_store"]) as conn:
        (entities,) = conn.execute("select count(distinct entity_key) from tagifai_project_tags").fetchone()
    assert entities == 764
    frame = training_frame(store, entity_frame(labeled["id"], pd.Timestamp.now(tz="UTC")))
    assert len(frame) == 764 and frame["tag"].notna().all()
    assert figures["online_rows_written"] == 0
    files = ["data", "online_store.db", "online_sync.json", "registry.db"]
    assert sorted(p.name for p in repo_dir.iterdir()) == files


def test_a_copied_store_reads_its_own_files_once_the_original_is_gone(labeled, tmp_path):
    from tagifai_platform.features import feature_store

    original, copy = tmp_path / "original" / "feast", tmp_path / "copy" / "feast"
    publish_features(feature_store(original), labeled.head(30))
    shutil.copytree(original, copy)
    shutil.rmtree(original)

    store = feature_store(copy)
    frame = training_frame(store, entity_frame(labeled["id"].head(30), pd.Timestamp.now(tz="UTC")))
    assert frame["text"].tolist() == labeled["text"].head(30).tolist()
    assert online_features(store, labeled["id"].head(3))["tag"].tolist() == labeled["tag"].head(3).tolist()
    assert not original.exists()


def test_word_counts_split_on_white_space_as_str_split_does():
    descriptions = ["a  b\tc\n", "", None, "\u00a0x\u2003y ", "one"]
    labeled = pd.DataFrame(
        {
            "id": range(5),
            "created_on": pd.Timestamp("2020-01-01"),
            "title": "t",
            "description": descriptions,
            "tag": "other",
            "text": "t",
        }
    )
    assert offline_frame(labeled)["description_word_count"].tolist() == [3, 0, 0, 2, 1]


def test_changed_rows_are_new_relabeled_or_moved_in_time():
    previous = offline_frame(
        pd.DataFrame(
            {
                "id": [1, 2, 3, 3],
                "created_on": pd.to_datetime(["2020-01-01", "2020-01-02", "2020-01-03", "2020-01-03"]),
                "title": ["a", "b", "c", "c"],
                "description": ["x", "y", "z", "z"],
                "tag": ["mlops", "other", "mlops", "other"],
                "text": ["a x", "b y", "c z", "c z"],
            }
        )
    )
    current = previous.drop(index=2).reset_index(drop=True).copy()
    current.loc[1, repo.TIMESTAMP_FIELD] += pd.Timedelta(seconds=1)  # id 2 moved in time
    current.loc[2, "tag"] = "mlops"  # id 3 relabeled: the last of its previous rows said "other"
    current = pd.concat([current, offline_frame(_project(4, "2020-01-04", "new one", "mlops"))])
    assert changed_rows(current, previous)["id"].tolist() == [2, 3, 4]
    assert changed_rows(previous.iloc[[0, 1, 3]], previous).empty  # another ``created`` is no change
    retexted = previous.iloc[[0, 1, 3]].assign(text="another text", text_char_count=12)
    assert changed_rows(retexted, previous).empty  # the online store holds no text: nothing to write


def _project(id_: int, created_on: str, text: str, tag: str) -> pd.DataFrame:
    title, description = text.split(" ", 1)
    return pd.DataFrame(
        {
            "id": [id_],
            "created_on": [pd.Timestamp(created_on)],
            "title": [title],
            "description": [description],
            "tag": [tag],
            "text": [text],
        }
    )


def test_a_second_batch_and_a_relabel_write_only_those_rows_online(labeled, tmp_path):
    from tagifai_platform.features import feature_store

    store = feature_store(tmp_path / "feast")
    first = publish_features(store, labeled.head(500))
    assert (first["online_write"], first["online_rows_written"]) == ("full", 500)

    relabeled = labeled.copy()
    old_tag = relabeled.loc[10, "tag"]
    relabeled.loc[10, "tag"] = "other" if old_tag != "other" else "mlops"
    second = publish_features(store, relabeled)
    assert (second["online_write"], second["online_rows_written"]) == ("changed rows", 264 + 1)

    served = online_features(store, relabeled["id"]).set_index("id")
    assert served.loc[relabeled["id"], "tag"].tolist() == relabeled["tag"].tolist()
    as_of_now = training_frame(store, entity_frame(relabeled["id"], pd.Timestamp.now(tz="UTC")))
    assert as_of_now["tag"].tolist() == relabeled["tag"].tolist()
    assert publish_features(store, relabeled)["online_rows_written"] == 0


def test_an_online_store_not_known_to_hold_the_last_publication_is_written_in_full(labeled, tmp_path):
    from tagifai_platform.features import feature_store

    repo_dir, some = tmp_path / "feast", labeled.head(40)
    figures = publish_features(feature_store(repo_dir), some)
    pd.read_parquet(figures["path"]).to_parquet(figures["path"], index=False)  # by hand, without its id
    assert publish_features(feature_store(repo_dir), some)["online_write"] == "full"
    assert publish_features(feature_store(repo_dir), some)["online_rows_written"] == 0

    Path(figures["online_store"]).unlink()
    assert publish_features(feature_store(repo_dir), some)["online_write"] == "full"
    repo.online_sync_path(repo_dir).write_text("{not json")
    assert publish_features(feature_store(repo_dir), some)["online_write"] == "full"
    assert online_features(feature_store(repo_dir), some["id"])["tag"].tolist() == some["tag"].tolist()


def test_a_store_synced_under_the_older_online_view_is_written_in_full(labeled, tmp_path):
    """A home published by the release that served every feature from ``project_features``: its
    sync record names the same publication but no online view, ``project_tags`` starts empty, and
    the older view's online table goes."""
    from tagifai_platform.features import feature_store

    repo_dir, some = tmp_path / "feast", labeled.head(40)
    figures = publish_features(feature_store(repo_dir), some)
    sync = repo.online_sync_path(repo_dir)
    record = json.loads(sync.read_text())
    assert record["online"] == "sqlite:online_store.db/project_tags:tag"
    sync.write_text(json.dumps({**record, "online": "sqlite:online_store.db"}))
    with sqlite3.connect(figures["online_store"]) as conn:  # what the older release left
        conn.execute("create table tagifai_project_features (entity_key blob, feature_name text)")

    again = publish_features(feature_store(repo_dir), some)
    assert (again["online_write"], again["online_rows_written"]) == ("full", 40)
    with sqlite3.connect(figures["online_store"]) as conn:
        tables = conn.execute("select name from sqlite_master where type = 'table'").fetchall()
    assert tables == [("tagifai_project_tags",)]


def test_online_writes_in_several_chunks_keep_every_project(labeled, tmp_path, monkeypatch):
    from tagifai_platform.features import feature_store, online

    store = feature_store(tmp_path / "feast")
    publish_features(store, labeled.head(1))
    monkeypatch.setattr(online, "CHUNK_ROWS", 100)
    write_online(store, offline_frame(labeled))
    served = online_features(store, labeled["id"])
    assert served["tag"].tolist() == labeled["tag"].tolist()
