"""The bulk-writing SQLite online store: what it writes is what Feast writes, and Feast reads it back."""

from __future__ import annotations

import sqlite3
import time
import warnings

import numpy as np
import pandas as pd
import pytest

from tagifai_platform.features import feature_store, offline_frame, online_features, publish_features, repo

TABLE = f"{repo.PROJECT}_{repo.ONLINE_FEATURE_VIEW}"


@pytest.fixture(scope="module")
def synthetic(dataset_dir):
    """A few thousand labeled projects recombined from the real ones, and a source of more."""
    from tagifai_platform.data import sources, transform
    from tagifai_platform.data.synthetic import synthesize

    projects = sources.read_projects(str(dataset_dir / "projects.csv"))
    tags = sources.read_tags(str(dataset_dir / "tags.csv"), projects)

    def labeled(rows: int, seed: int, first_id: int | None = None) -> pd.DataFrame:
        batch = synthesize(projects, tags, rows, seed=seed, first_id=first_id)
        return transform.label_projects(batch.projects, batch.tags)

    return labeled


def test_entity_keys_are_feasts_serialization_of_each_id():
    from feast.infra.key_encoding_utils import serialize_entity_key
    from feast.protos.feast.types.EntityKey_pb2 import EntityKey
    from feast.protos.feast.types.Value_pb2 import Value

    from tagifai_platform.features.online import _int64_key_prefix, _int64_keys

    rng = np.random.default_rng(0)
    edges = [0, 1, -1, 255, 256, -256, 2**31, -(2**31) - 1, 2**63 - 1, -(2**63)]
    ids = np.concatenate([edges, rng.integers(-(2**63), 2**63 - 1, 5_000), rng.integers(0, 10**6, 5_000)])
    prefix = _int64_key_prefix(repo.JOIN_KEY, 3)
    expected = [
        serialize_entity_key(
            EntityKey(join_keys=[repo.JOIN_KEY], entity_values=[Value(int64_val=int(i))]),
            entity_key_serialization_version=3,
        )
        for i in ids
    ]
    assert _int64_keys(prefix, ids.astype(np.int64)) == expected


@pytest.fixture(params=["UTC", "America/New_York"])
def local_zone(request, monkeypatch):
    """The process's local time zone: Feast's SQLite adapter reads naive times as local ones."""
    monkeypatch.setenv("TZ", request.param)
    time.tzset()
    yield request.param
    monkeypatch.undo()
    time.tzset()


def test_timestamps_are_what_feasts_sqlite_adapter_makes_of_them(local_zone):
    from feast.infra.online_stores.sqlite import adapt_datetime_epoch

    from tagifai_platform.features.online import _sqlite_timestamps

    rng = np.random.default_rng(1)
    nanoseconds = np.concatenate(
        [[0, 1, -1, 999_999_999, -999_999_999, -(10**9)], rng.integers(-(2**61), 2**61, 20_000)]
    )
    moments = pd.Series(pd.to_datetime(nanoseconds, unit="ns", utc=True))
    # Feast's write turns each pandas timestamp into a datetime (dropping nanoseconds) and then adapts it.
    with warnings.catch_warnings(action="ignore", category=UserWarning):
        expected = [adapt_datetime_epoch(moment.tz_localize(None).to_pydatetime()) for moment in moments]
    assert _sqlite_timestamps(moments) == expected
    assert _sqlite_timestamps(moments.dt.tz_localize(None)) == expected


def test_the_bulk_write_stores_the_rows_feasts_own_write_stores(labeled, tmp_path, local_zone):
    """Feast's ``write_to_online_store`` into one store, the bulk write into another, from the same
    frames (a first write, then upserts over it with a repeated id): the tables are equal row for row,
    timestamps included, in a zone with daylight saving time too (Feast's SQLite adapter reads the
    naive UTC time as local time)."""
    from tagifai_platform.features.store import write_online

    frame = offline_frame(labeled)
    later = offline_frame(labeled.head(50).assign(tag="other"), created=pd.Timestamp("2030-01-01", tz="UTC"))
    stores = {name: feature_store(tmp_path / name) for name in ("feast", "bulk")}
    for store in stores.values():
        store.apply(repo.definitions())
    columns = [repo.JOIN_KEY, repo.TIMESTAMP_FIELD, repo.CREATED_FIELD, *repo.ONLINE_FEATURES]
    for batch in (frame, pd.concat([later, frame.head(3), later.head(1)])):
        stores["feast"].write_to_online_store(repo.ONLINE_FEATURE_VIEW, df=batch[columns])
        write_online(stores["bulk"], batch)

    tables = {}
    for name in stores:
        with sqlite3.connect(repo.online_store_path(tmp_path / name)) as conn:
            tables[name] = conn.execute(f"select * from {TABLE} order by entity_key, feature_name").fetchall()
    assert len(tables["bulk"]) == len(labeled)
    assert tables["bulk"] == tables["feast"]


def test_a_view_of_several_features_and_integers_is_written_as_feast_writes_it(labeled, tmp_path):
    """The five features of ``project_features`` (strings and int64 counts; offline only in the
    platform, here given an online table), with ids repeated across rows: the same table."""
    from feast.infra.provider import get_provider

    frame = offline_frame(labeled.head(300))
    frame = pd.concat([frame, frame.head(20).assign(tag="other", title_word_count=99)], ignore_index=True)
    tables = {}
    for name in ("feast", "bulk"):
        store = feature_store(tmp_path / name)
        store.apply(repo.definitions())
        view = store.get_feature_view(repo.FEATURE_VIEW)
        online = get_provider(store.config).online_store
        online.update(store.config, [], [view], [], [], partial=True)
        if name == "feast":
            store.write_to_online_store(repo.FEATURE_VIEW, df=frame)
        else:
            online.write_frame(store.config, view, frame)
        with sqlite3.connect(repo.online_store_path(tmp_path / name)) as conn:
            query = f"select * from {repo.PROJECT}_{repo.FEATURE_VIEW} order by entity_key, feature_name"
            tables[name] = conn.execute(query).fetchall()
    assert len(tables["bulk"]) == 300 * len(repo.FEATURES)
    assert tables["bulk"] == tables["feast"]


def test_feast_reads_what_the_bulk_write_published_through_every_kind_of_publication(
    synthetic, tmp_path, monkeypatch
):
    """A first publication, a new batch with relabels, an interrupted write and its full rewrite:
    after each, Feast's ``get_online_features`` returns every id's current tag and nulls for ids
    never published."""
    from tagifai_platform.features.online import BulkSqliteOnlineStore

    store = feature_store(tmp_path / "feast")
    unknown = [-5, 10**12]

    def served(frame: pd.DataFrame) -> None:
        ids = [*frame["id"].tolist(), *unknown]
        answer = online_features(store, ids)
        assert answer["id"].tolist() == ids
        assert answer["tag"].tolist() == [*frame["tag"].tolist(), None, None]

    first = synthetic(3_000, seed=1)
    assert publish_features(store, first)["online_write"] == "full"
    served(first)

    batch = synthetic(500, seed=2, first_id=int(first["id"].max()) + 1)
    second = pd.concat([first, batch], ignore_index=True)
    relabeled = second.index[: len(first) : 7]
    second.loc[relabeled, "tag"] = np.where(second.loc[relabeled, "tag"] == "other", "mlops", "other")
    figures = publish_features(store, second)
    assert (figures["online_write"], figures["online_rows_written"]) == ("changed rows", 500 + len(relabeled))
    served(second)

    third = second.assign(tag=np.where(second["tag"] == "mlops", "other", "mlops"))
    write_frame = BulkSqliteOnlineStore.write_frame

    def interrupted(self, config, table, frame):
        write_frame(self, config, table, frame.head(len(frame) // 2))
        raise OSError("disk full")

    monkeypatch.setattr(BulkSqliteOnlineStore, "write_frame", interrupted)
    with pytest.raises(OSError, match="disk full"):
        publish_features(store, third)
    monkeypatch.undo()
    again = publish_features(store, third)
    assert (again["online_write"], again["online_rows_written"]) == ("full", len(third))
    served(third)


def test_the_laptop_store_is_feasts_sqlite_store_with_the_bulk_write(tmp_path):
    from feast.infra.online_stores.sqlite import SqliteOnlineStore
    from feast.infra.provider import get_provider

    from tagifai_platform.features.online import STORE_TYPE, BulkSqliteOnlineStore

    store = feature_store(tmp_path / "feast")
    assert store.config.online_store.type == STORE_TYPE
    online = get_provider(store.config).online_store
    assert isinstance(online, BulkSqliteOnlineStore) and isinstance(online, SqliteOnlineStore)
    assert store.config.online_store.path == str(repo.online_store_path(tmp_path / "feast"))
