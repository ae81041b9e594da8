"""The Feast feature repository for tagifai, defined in code.

There is no ``feature_store.yaml`` and no ``feature_repo/`` folder: :func:`repo_config` builds the
:class:`feast.RepoConfig` and :func:`definitions` builds the objects that ``feast apply`` would
otherwise discover in Python files. By default everything lives under one directory chosen by the
caller (the platform passes ``TAGIFAI_HOME/feast``)::

    <repo_dir>/registry.db              file registry
    <repo_dir>/online_store.db          sqlite online store
    <repo_dir>/online_sync.json         which publication the online store holds
    <repo_dir>/data/projects.parquet    offline store (file source, recorded relative to the repo)

Two feature views read the one parquet source. ``project_features`` holds every feature and is
offline only: training reads it point in time. ``project_tags`` is the online view and holds what an
online caller cannot work out for itself, the current tag of a known project: the prediction service
gets its texts from the requests, the model reads nothing but the text, and the counts follow from
the text in hand. Writing the text and counts online too meant five values a project, each turned
into a protobuf and written by Feast in Python, which made the first publication of a million
projects take four minutes; the tag alone is one value a project.

On a laptop the online store is Feast's SQLite store, extended with a bulk write
(:mod:`tagifai_platform.features.online`). Shared by several machines, the registry is a SQL database
(Feast's ``sql`` registry, a SQLAlchemy URL) and the online store a Redis server (Feast's ``redis``
store, given as ``redis://host:port/db``).

Feast is imported inside the functions because importing it takes several seconds.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # pragma: no cover
    from feast import RepoConfig

PROJECT = "tagifai"
ENTITY = "project"
JOIN_KEY = "id"
SOURCE = "projects_source"
FEATURE_VIEW = "project_features"
ONLINE_FEATURE_VIEW = "project_tags"
TIMESTAMP_FIELD = "event_timestamp"
CREATED_FIELD = "created"

# The features of ``project_features``, the offline view. Counts are derived with pandas in
# :func:`tagifai_platform.features.store.offline_frame`.
TEXT_FEATURES = ("text", "tag")
COUNT_FEATURES = ("title_word_count", "description_word_count", "text_char_count")
FEATURES = TEXT_FEATURES + COUNT_FEATURES
# Features served online by ``project_tags`` (see the module's docstring for why only these).
ONLINE_FEATURES = ("tag",)

# A ttl of zero means no lookback limit: a project's features never expire, however old its
# creation time, so the point-in-time retrieval "as of now" returns every published project.
TTL = timedelta(0)

REGISTRY_FILE = "registry.db"
ONLINE_STORE_FILE = "online_store.db"
# Which publication the online store holds (see ``store.publish_features``).
ONLINE_SYNC_FILE = "online_sync.json"
OFFLINE_FILE = Path("data") / "projects.parquet"


def registry_path(repo_dir: Path) -> Path:
    return Path(repo_dir).resolve() / REGISTRY_FILE


def online_store_path(repo_dir: Path) -> Path:
    return Path(repo_dir).resolve() / ONLINE_STORE_FILE


def online_sync_path(repo_dir: Path) -> Path:
    return Path(repo_dir).resolve() / ONLINE_SYNC_FILE


def offline_path(repo_dir: Path) -> Path:
    return Path(repo_dir).resolve() / OFFLINE_FILE


def feature_refs() -> list[str]:
    """Feature references (``view:feature``) for the historical (training) retrieval."""
    return [f"{FEATURE_VIEW}:{name}" for name in FEATURES]


def online_feature_refs() -> list[str]:
    """Feature references (``view:feature``) for the online retrieval."""
    return [f"{ONLINE_FEATURE_VIEW}:{name}" for name in ONLINE_FEATURES]


def repo_config(repo_dir: Path, registry: str | None = None, online_store: str | None = None) -> RepoConfig:
    """A local-provider config whose files live under ``repo_dir`` (absolute paths), with the
    ``registry`` (a SQLAlchemy URL) and the ``online_store`` (``redis://host:port/db``) on servers
    when given."""
    from feast import RepoConfig
    from feast.infra.offline_stores.dask import DaskOfflineStoreConfig
    from feast.infra.online_stores.redis import RedisOnlineStoreConfig
    from feast.infra.registry.sql import SqlRegistryConfig
    from feast.repo_config import RegistryConfig

    from tagifai_platform.features.online import BulkSqliteOnlineStoreConfig

    repo_dir = Path(repo_dir).resolve()
    return RepoConfig(
        project=PROJECT,
        provider="local",
        repo_path=repo_dir,
        registry=SqlRegistryConfig(path=registry, cache_ttl_seconds=60)
        if registry
        else RegistryConfig(registry_type="file", path=str(registry_path(repo_dir))),
        offline_store=DaskOfflineStoreConfig(type="file"),
        # The publication decides which values are current (a relabel keeps its event time), so
        # Redis must not skip a write whose event time is not newer than the stored one.
        online_store=RedisOnlineStoreConfig(
            type="redis", connection_string=redis_connection(online_store), skip_dedup=True
        )
        if online_store
        else BulkSqliteOnlineStoreConfig(path=str(online_store_path(repo_dir))),
        entity_key_serialization_version=3,
    )


def redis_connection(url: str) -> str:
    """Feast's Redis connection string (``host:port,db=N,password=...``) for a ``redis://`` URL."""
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    if parts.scheme != "redis" or not parts.hostname:
        raise ValueError(f"the Feast online store must be a redis://host:port/db URL, got {url!r}")
    options = [f"{parts.hostname}:{parts.port or 6379}"]
    if parts.path.strip("/"):
        options.append(f"db={int(parts.path.strip('/'))}")
    if parts.password:
        options.append(f"password={parts.password}")
    return ",".join(options)


def definitions() -> list[Any]:
    """The objects to ``store.apply``: project, entity, parquet source, the offline feature view
    and the online one, both over that source.

    The source's path is relative, and Feast resolves it against the store's ``repo_path``: the
    registry then names no folder, so a copied or moved home reads its own parquet file.
    """
    from feast import Entity, FeatureView, Field, FileSource, Project, ValueType
    from feast.types import Int64, String

    project = Project(name=PROJECT, description="tagifai: tag ML projects from their title and description")
    entity = Entity(
        name=ENTITY,
        join_keys=[JOIN_KEY],
        value_type=ValueType.INT64,
        description="A project posted on Made With ML",
    )
    source = FileSource(
        name=SOURCE,
        path=str(OFFLINE_FILE),
        timestamp_field=TIMESTAMP_FIELD,
        created_timestamp_column=CREATED_FIELD,
        description="Labeled projects with pandas-derived features",
    )
    tag = Field(
        name="tag",
        dtype=String,
        description="label: computer-vision / natural-language-processing / mlops / other",
    )
    view = FeatureView(
        name=FEATURE_VIEW,
        entities=[entity],
        ttl=TTL,
        schema=[
            Field(name="text", dtype=String, description="title + ' ' + description"),
            tag,
            Field(
                name="title_word_count", dtype=Int64, description="whitespace-separated words in the title"
            ),
            Field(
                name="description_word_count",
                dtype=Int64,
                description="whitespace-separated words in the description",
            ),
            Field(name="text_char_count", dtype=Int64, description="characters in text"),
        ],
        online=False,
        source=source,
        description="Every feature of a project, for point-in-time training sets",
        tags={"product": "tagifai"},
    )
    online_view = FeatureView(
        name=ONLINE_FEATURE_VIEW,
        entities=[entity],
        ttl=TTL,
        schema=[tag],
        online=True,
        source=source,
        description="The current tag of a known project, served online",
        tags={"product": "tagifai"},
    )
    return [project, entity, source, view, online_view]
