"""Plain-Python operations on the tagifai feature store (no orchestration imports here).

* :func:`feature_store` opens (or creates) the store under a directory.
* :func:`publish_features` writes the offline parquet from the labeled frame, applies the
  definitions and writes the new or changed tags to the online store.
* :func:`training_frame` does a point-in-time correct historical retrieval for an entity frame.
* :func:`online_features` reads the current tags of a few ids from the online store.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
import uuid
from collections.abc import Iterable
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from tagifai_platform.features import repo

if TYPE_CHECKING:  # pragma: no cover
    from feast import FeatureStore

REQUIRED_COLUMNS = ("id", "created_on", "title", "description", "tag", "text")
# Rows per call to Feast's online write (Redis; see ``write_online``).
ONLINE_CHUNK_ROWS = 20_000
# The parquet's schema metadata key holding the id of the publication that wrote it.
PUBLICATION_KEY = b"tagifai.publication"


def feature_store(
    repo_dir: Path, registry: str | None = None, online_store: str | None = None
) -> FeatureStore:
    """Open the feature store whose files live under ``repo_dir`` (created if missing), with its
    registry and online store on servers when given (see :func:`repo.repo_config`).

    Nothing is read from or written to the current directory: the config is built in code with
    absolute paths and ``repo_path`` points at ``repo_dir``.
    """
    from feast import FeatureStore

    repo_dir = Path(repo_dir).resolve()
    repo_dir.mkdir(parents=True, exist_ok=True)
    return FeatureStore(repo_path=str(repo_dir), config=repo.repo_config(repo_dir, registry, online_store))


def _repo_dir(store: FeatureStore) -> Path:
    return Path(store.repo_path).resolve()


def _utc(values: pd.Series) -> pd.Series:
    """Datetimes as tz-aware UTC; naive values are taken to be UTC already."""
    values = pd.to_datetime(values)
    if values.dt.tz is None:
        return values.dt.tz_localize("UTC")
    return values.dt.tz_convert("UTC")


def _word_count(values: pd.Series) -> pd.Series:
    # A plain loop: pandas' ``str.split().str.len()`` builds every list first and took five times longer.
    texts = values.fillna("").astype(str)
    counts = np.fromiter((len(text.split()) for text in texts), dtype=np.int64, count=len(texts))
    return pd.Series(counts, index=values.index)


def offline_frame(labeled: pd.DataFrame, created: datetime | None = None) -> pd.DataFrame:
    """The rows of the offline store: id, timestamps, text, tag and pandas-derived counts."""
    missing = [c for c in REQUIRED_COLUMNS if c not in labeled.columns]
    if missing:
        raise ValueError(f"labeled frame lacks columns {missing}")
    labeled = labeled.reset_index(drop=True)
    created_at = pd.Timestamp(created or datetime.now(UTC))
    created_at = created_at.tz_convert("UTC") if created_at.tzinfo else created_at.tz_localize("UTC")
    text = labeled["text"].fillna("").astype(str)
    return pd.DataFrame(
        {
            "id": labeled["id"].astype("int64"),
            repo.TIMESTAMP_FIELD: _utc(labeled["created_on"]),
            repo.CREATED_FIELD: created_at,
            "text": text,
            "tag": labeled["tag"].astype(str),
            "title_word_count": _word_count(labeled["title"]),
            "description_word_count": _word_count(labeled["description"]),
            "text_char_count": text.str.len().astype("int64"),
        }
    )


def publish_features(store: FeatureStore, labeled: pd.DataFrame) -> dict[str, Any]:
    """Write the offline parquet, apply the definitions and bring the online store up to date.

    Only the projects that are new or whose online features (the tag) or event time changed since
    the last publication are written online: Feast's SQLite store upserts one feature of one project
    per statement, and rewriting a million unchanged projects on every new batch is what made
    publishing scale badly. The online store is known to hold the previous publication only when
    :data:`repo.ONLINE_SYNC_FILE` names that publication (and this online store and view);
    otherwise (first publication, another online store or view, a write that failed half-way, an
    offline file changed by hand) every project is written again.

    Idempotent: the parquet is replaced, ``apply`` of unchanged definitions is a no-op, and
    re-publishing the same frame writes nothing online. Returns figures about what was published.
    """
    started = time.perf_counter()
    repo_dir = _repo_dir(store)
    frame = offline_frame(labeled)
    path = repo.offline_path(repo_dir)
    online = _online_identity(store)
    previous = _online_baseline(repo_dir, online)
    publication = uuid.uuid4().hex
    _write_offline(frame, path, publication)
    timings = {"offline_s": round(time.perf_counter() - started, 3)}

    store.apply(repo.definitions())
    timings["apply_s"] = round(time.perf_counter() - started - timings["offline_s"], 3)

    if previous is None:
        _drop_offline_views_online(store)
    changed = frame if previous is None else changed_rows(frame, previous)
    write_online(store, changed)
    _atomic_write(repo.online_sync_path(repo_dir), json.dumps({"publication": publication, "online": online}))
    return {
        "rows": int(len(frame)),
        "entities": int(frame["id"].nunique()),
        "online_rows_written": int(len(changed)),
        "online_write": "full" if previous is None else "changed rows",
        "path": str(path),
        "registry": str(repo.registry_path(repo_dir)),
        "online_store": str(repo.online_store_path(repo_dir)),
        "feature_view": repo.FEATURE_VIEW,
        "features": list(repo.FEATURES),
        "online_feature_view": repo.ONLINE_FEATURE_VIEW,
        "online_features": list(repo.ONLINE_FEATURES),
        "event_timestamp_min": frame[repo.TIMESTAMP_FIELD].min().isoformat() if len(frame) else None,
        "event_timestamp_max": frame[repo.TIMESTAMP_FIELD].max().isoformat() if len(frame) else None,
        **timings,
        "seconds": round(time.perf_counter() - started, 3),
    }


def changed_rows(frame: pd.DataFrame, previous: pd.DataFrame) -> pd.DataFrame:
    """Rows of ``frame`` that ``previous`` lacks or holds with other online features or event time.

    The ``created`` column is left out: it is the time of each publication, not a change; so are
    the offline-only features (a new text under the same tag changes nothing online).
    """
    before = previous.drop_duplicates("id", keep="last").set_index("id")
    ids = frame["id"].to_numpy()
    aligned = before.reindex(ids).reset_index(drop=True)
    same = pd.Series(pd.Index(ids).isin(before.index))
    for column in (repo.TIMESTAMP_FIELD, *repo.ONLINE_FEATURES):
        same &= aligned[column].eq(frame[column].reset_index(drop=True))
    return frame[~same.to_numpy()]


def write_online(store: FeatureStore, frame: pd.DataFrame) -> None:
    """Write the online view's columns of ``frame`` to the online store.

    The SQLite store writes the whole frame in one transaction with its bulk write
    (:meth:`~tagifai_platform.features.online.BulkSqliteOnlineStore.write_frame`). Any other store
    (Redis) goes through Feast's ``write_to_online_store``, :data:`ONLINE_CHUNK_ROWS` at a time: Feast
    turns every value into a protobuf before writing, and in chunks the memory that takes stays bounded
    (the whole of a million projects at once took several gigabytes). Only the columns the online view
    reads are handed over: Feast converts the whole frame to Arrow first, texts included.
    """
    from feast.infra.provider import get_provider

    from tagifai_platform.features.online import BulkSqliteOnlineStore

    columns = [repo.JOIN_KEY, repo.TIMESTAMP_FIELD, repo.CREATED_FIELD, *repo.ONLINE_FEATURES]
    frame = _in_key_order(frame[columns])
    online_store = get_provider(store.config).online_store
    if isinstance(online_store, BulkSqliteOnlineStore):
        view = store.get_feature_view(repo.ONLINE_FEATURE_VIEW)
        online_store.write_frame(store.config, view, frame)
        return
    for start in range(0, len(frame), ONLINE_CHUNK_ROWS):
        store.write_to_online_store(
            repo.ONLINE_FEATURE_VIEW, df=frame.iloc[start : start + ONLINE_CHUNK_ROWS]
        )


def _drop_offline_views_online(store: FeatureStore) -> None:
    """Delete what the online store holds for views that are offline only.

    An older release served every feature from ``project_features`` online; ``apply`` turning it
    offline leaves its online table (SQLite) or hash fields (Redis) behind, a million projects' texts
    that nothing reads. Done before each full write (for an empty store it finds nothing), through
    the provider's ``update_infra``, which is how ``apply`` deletes a removed view's online data.
    """
    from feast.infra.provider import get_provider

    offline_only = [view for view in store.list_feature_views() if not view.online]
    get_provider(store.config).update_infra(
        project=store.project,
        tables_to_delete=offline_only,
        tables_to_keep=[],
        entities_to_delete=[],
        entities_to_keep=[],
        partial=True,
    )


def _in_key_order(frame: pd.DataFrame) -> pd.DataFrame:
    """The rows in the byte order of the keys Feast stores them under (an int64 id's little-endian
    bytes): SQLite's indexes then grow at their end instead of at random pages. A million projects
    in id order took 426 s (249 s CPU) to write, in key order 257 s (167 s CPU) at a higher load.
    Only the speed depends on it."""
    keys = frame["id"].to_numpy(dtype="<i8").view("<u8").byteswap()
    return frame.iloc[np.argsort(keys, kind="stable")]


def _online_identity(store: FeatureStore) -> str:
    """Which online store this is, without secrets (the SQLite file's name, or a digest of the URL),
    and which view and features it serves: a store written under another online view (an older
    release served every feature from ``project_features``) is written again in full."""
    config = store.config.online_store
    if config.type == "redis":
        where = "redis:" + hashlib.sha256(config.connection_string.encode()).hexdigest()[:16]
    else:  # Feast's SQLite store or its bulk-writing subclass: the same tables
        where = f"sqlite:{Path(config.path).name}"
    return f"{where}/{repo.ONLINE_FEATURE_VIEW}:{','.join(repo.ONLINE_FEATURES)}"


def _online_baseline(repo_dir: Path, online: str) -> pd.DataFrame | None:
    """The columns :func:`changed_rows` compares (id, event time, online features) of the published
    frame the online store holds, or None when that is not known for sure. Only those columns are
    read: the texts are most of the parquet (at 1M, 0.2 s of CPU instead of 1.7 s)."""
    import pyarrow.parquet as pq

    path, sync = repo.offline_path(repo_dir), repo.online_sync_path(repo_dir)
    if not (path.is_file() and sync.is_file()):
        return None
    if online.startswith("sqlite:") and not repo.online_store_path(repo_dir).is_file():
        return None
    try:
        synced = json.loads(sync.read_text())
    except ValueError:
        return None
    metadata = pq.read_schema(path).metadata or {}
    publication = metadata.get(PUBLICATION_KEY, b"").decode()
    if synced != {"publication": publication, "online": online}:
        return None
    return pd.read_parquet(path, columns=[repo.JOIN_KEY, repo.TIMESTAMP_FIELD, *repo.ONLINE_FEATURES])


def _write_offline(frame: pd.DataFrame, path: Path, publication: str) -> None:
    """The parquet, tagged with the publication's id, replaced in one step."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    path.parent.mkdir(parents=True, exist_ok=True)
    table = pa.Table.from_pandas(frame, preserve_index=False)
    table = table.replace_schema_metadata({**(table.schema.metadata or {}), PUBLICATION_KEY: publication})
    partial = path.with_name(path.name + ".tmp")
    pq.write_table(table, partial)
    os.replace(partial, path)


def _atomic_write(path: Path, text: str) -> None:
    partial = path.with_name(path.name + ".tmp")
    partial.write_text(text)
    os.replace(partial, path)


def entity_frame(ids: Iterable[int], timestamps: Any) -> pd.DataFrame:
    """Build an entity frame (``id``, ``event_timestamp``) for :func:`training_frame`.

    ``timestamps`` may be one timestamp for all ids or a sequence aligned with ``ids``.
    """
    ids = [int(i) for i in ids]
    if isinstance(timestamps, (str, datetime, pd.Timestamp)):
        timestamps = [timestamps] * len(ids)
    return pd.DataFrame({"id": ids, repo.TIMESTAMP_FIELD: _utc(pd.Series(list(timestamps)))})


def training_frame(store: FeatureStore, entity_df: pd.DataFrame) -> pd.DataFrame:
    """Point-in-time correct features for each (id, timestamp) row of ``entity_df``.

    ``entity_df`` needs an ``id`` column and an ``event_timestamp`` column (``created_on`` is
    accepted instead); naive timestamps are taken as UTC. Each row gets the latest feature values
    whose event timestamp is at or before its own timestamp (within the view's ttl), or nulls if
    there are none. The result has columns ``id`` + ``FEATURES``, exactly one row per entity row,
    in the order of ``entity_df`` (index reset); count columns use the nullable ``Int64`` dtype.

    Feast's file (dask) offline store drops entity rows whose only feature rows lie after the
    entity timestamp and collapses rows sharing (id, timestamp) (feast-dev/feast#6787), so only
    the distinct (id, timestamp) pairs are sent and the answer is joined back onto every row.
    """
    if "id" not in entity_df.columns:
        raise ValueError("entity_df needs an 'id' column")
    if repo.TIMESTAMP_FIELD in entity_df.columns:
        timestamps = entity_df[repo.TIMESTAMP_FIELD]
    elif "created_on" in entity_df.columns:
        timestamps = entity_df["created_on"]
    else:
        raise ValueError("entity_df needs an 'event_timestamp' (or 'created_on') column")
    keys = ["id", repo.TIMESTAMP_FIELD]
    entities = pd.DataFrame(
        {
            "id": entity_df["id"].astype("int64").reset_index(drop=True),
            repo.TIMESTAMP_FIELD: _utc(timestamps.reset_index(drop=True)).astype("datetime64[ns, UTC]"),
        }
    )
    if entities.empty:
        return _typed(pd.DataFrame(columns=["id", *repo.FEATURES]))
    import dask

    # Feast's file offline store turns dask's string conversion off, so that its results keep
    # Python strings. Dask then hashes every text of the frame each time the join persists it (a
    # dozen times): more than half of this retrieval's time at 100,000 projects. The conversion is on
    # for this call only; the result's types are set below, whatever dask returns.
    with dask.config.set({"dataframe.convert-string": True}):
        job = store.get_historical_features(
            entity_df=entities.drop_duplicates(keys), features=repo.feature_refs()
        )
        found = job.to_df()[[*keys, *repo.FEATURES]]
    found[repo.TIMESTAMP_FIELD] = _utc(found[repo.TIMESTAMP_FIELD]).astype("datetime64[ns, UTC]")
    result = entities.merge(found.drop_duplicates(keys), on=keys, how="left", validate="many_to_one")
    return _typed(result[["id", *repo.FEATURES]])


def online_features(store: FeatureStore, ids: Iterable[int]) -> pd.DataFrame:
    """The published online features (``id`` + :data:`repo.ONLINE_FEATURES`: the current tag) of
    ``ids``, in that order; unknown ids get nulls. The text and counts are offline only
    (:func:`training_frame`)."""
    rows = [{"id": int(i)} for i in ids]
    columns = ["id", *repo.ONLINE_FEATURES]
    if not rows:
        return _typed(pd.DataFrame(columns=columns))
    response = store.get_online_features(features=repo.online_feature_refs(), entity_rows=rows)
    return _typed(response.to_df()[columns])


def _typed(frame: pd.DataFrame) -> pd.DataFrame:
    """Int64 ids, nullable ``Int64`` counts and object texts (None for missing), for whichever
    feature columns ``frame`` has."""
    frame = frame.copy()
    frame["id"] = frame["id"].astype("int64")
    for name in repo.COUNT_FEATURES:
        if name in frame:
            frame[name] = pd.to_numeric(frame[name]).astype("Int64")
    for name in repo.TEXT_FEATURES:
        if name in frame:
            frame[name] = frame[name].astype(object).where(frame[name].notna(), None)
    return frame
