"""Feast's registry in PostgreSQL and its online store in Redis, chosen by the settings."""

import pytest

from tagifai_platform.features import feature_store, online_features, publish_features
from tagifai_platform.features.repo import FEATURE_VIEW, ONLINE_FEATURE_VIEW, redis_connection
from tagifai_platform.resources import build_resources
from tagifai_platform.settings import load_settings


def test_a_second_machine_reads_what_the_first_published(postgres, redis, labeled, tmp_path):
    from feast.infra.online_stores.redis import RedisOnlineStore
    from feast.infra.provider import get_provider

    registry = postgres.create_database("feast_registry")
    first = feature_store(tmp_path / "first", registry, redis)
    published = labeled.head(40)
    publish_features(first, published)

    # Another machine: its own folder, the same registry and online store.
    second = feature_store(tmp_path / "second", registry, redis)
    assert sorted(view.name for view in second.list_feature_views()) == [FEATURE_VIEW, ONLINE_FEATURE_VIEW]
    ids = published["id"].astype(int).tolist()
    served = online_features(second, ids).set_index("id")
    assert served.loc[ids, "tag"].tolist() == published["tag"].tolist()
    assert (
        not (tmp_path / "second" / "registry.db").exists()
        and not (tmp_path / "second" / "online_store.db").exists()
    )
    # The publication went through Feast's Redis store, not the SQLite store's bulk write.
    assert isinstance(get_provider(first.config).online_store, RedisOnlineStore)
    assert not (tmp_path / "first" / "online_store.db").exists()

    # A relabel keeps the project's event time: Redis must take it all the same.
    relabeled = published.copy()
    relabeled.loc[relabeled.index[0], "tag"] = "other" if relabeled["tag"].iloc[0] != "other" else "mlops"
    assert publish_features(first, relabeled)["online_rows_written"] == 1
    assert online_features(second, ids)["tag"].tolist() == relabeled["tag"].tolist()


def test_the_settings_choose_the_stores(tmp_path):
    settings = load_settings(
        {
            "TAGIFAI_HOME": str(tmp_path),
            "TAGIFAI_FEAST_REGISTRY": "postgresql+psycopg2://feast@db:5432/feast",
            "TAGIFAI_FEAST_ONLINE_STORE": "redis://:secret@cache:6380/2",
        }
    )
    features = build_resources(settings)["features"]
    assert (features.registry, features.online_store) == (
        settings.feast_registry,
        settings.feast_online_store,
    )
    assert redis_connection(features.online_store) == "cache:6380,db=2,password=secret"
    with pytest.raises(ValueError, match="redis://host:port/db"):
        redis_connection("cache:6380")
