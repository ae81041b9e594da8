"""Feast's SQLite online store with a bulk write of a whole frame, for publishing a million projects.

Feast writes to an online store through ``FeatureStore.write_to_online_store``: every value of every
row becomes a protobuf (``ValueProto``), every row an ``EntityKeyProto`` serialized by
``serialize_entity_key``, and :class:`~feast.infra.online_stores.sqlite.SqliteOnlineStore` upserts
them one statement at a time. For a million projects' tags that took about 45 s of CPU in Python,
almost all of a first publication (53 s of CPU); with :meth:`BulkSqliteOnlineStore.write_frame` the
online write takes about 8 s of CPU, most of it SQLite's own inserts.

:class:`BulkSqliteOnlineStore` is a custom online store, Feast's documented extension point
(``online_store: type: <module>.<Class>``), that subclasses the SQLite store and adds one method,
:meth:`BulkSqliteOnlineStore.write_frame`: it writes the same rows, byte for byte, from a pandas
frame, with the per-row work done by numpy or once per distinct value, and the rows zipped in C for
one ``executemany`` in one transaction. Reads (``get_online_features``), the table's creation
(``update``), planning and teardown stay Feast's, and so does every other write
(``write_to_online_store``, ``materialize``).

What it writes is derived from Feast's own functions at each call (the entity key's bytes from
``serialize_entity_key``, each distinct value's bytes from ``python_values_to_proto_values``, each
distinct timestamp through the SQLite adapter Feast registers, or by numpy where that is the same),
and tests compare the table it writes with the one Feast's own write makes from the same frame.
"""

from __future__ import annotations

import itertools
import struct
import time
from collections.abc import Iterator
from typing import Any, Literal

import numpy as np
import pandas as pd
from feast import FeatureView
from feast.infra.key_encoding_utils import serialize_entity_key
from feast.infra.online_stores.helpers import compute_table_id, extract_text_and_num
from feast.infra.online_stores.sqlite import (
    SqliteOnlineStore,
    SqliteOnlineStoreConfig,
    adapt_datetime_epoch,
)
from feast.protos.feast.types.EntityKey_pb2 import EntityKey as EntityKeyProto
from feast.protos.feast.types.Value_pb2 import Value as ValueProto
from feast.repo_config import RepoConfig
from feast.type_map import python_values_to_proto_values
from feast.value_type import ValueType

STORE_TYPE = "tagifai_platform.features.online.BulkSqliteOnlineStore"
# Rows turned into Python objects at a time, inside the one transaction of a write: the memory a
# write takes stays bounded whatever the frame's size.
CHUNK_ROWS = 100_000


class BulkSqliteOnlineStoreConfig(SqliteOnlineStoreConfig):
    """The SQLite store's settings; ``type`` names :class:`BulkSqliteOnlineStore` so that Feast
    instantiates it (Feast finds the store class by dropping ``Config`` from this class's name)."""

    type: Literal["tagifai_platform.features.online.BulkSqliteOnlineStore"] = STORE_TYPE


class BulkSqliteOnlineStore(SqliteOnlineStore):
    """Feast's SQLite online store plus :meth:`write_frame`; nothing of the parent is overridden."""

    def write_frame(self, config: RepoConfig, table: FeatureView, frame: pd.DataFrame) -> None:
        """Upsert the features of ``table`` for every row of ``frame`` in one transaction, as
        ``FeatureStore.write_to_online_store(table.name, df=frame)`` would.

        ``frame`` holds the view's one int64 join key, its timestamp and created-timestamp columns
        and its features. Views with several join keys, vectors, or the numeric column of the
        OpenAI-compatible store are left to Feast's own write.
        """
        if config.online_store.vector_enabled or config.online_store.enable_openai_compatible_store:
            raise ValueError("vector and OpenAI-compatible SQLite stores: use write_to_online_store")
        entities = table.entity_columns
        if len(entities) != 1 or entities[0].dtype.to_value_type() != ValueType.INT64:
            raise ValueError(f"{table.name}: only one int64 join key is written in bulk")
        if frame.empty:
            return
        join_key = entities[0].name
        source = table.batch_source
        features = [(field.name, field.dtype.to_value_type()) for field in table.features]
        key_prefix = _int64_key_prefix(join_key, config.entity_key_serialization_version)
        columns = ["entity_key", "feature_name", "value", "value_text", "event_ts", "created_ts"]
        versioned = config.registry.enable_online_feature_view_versioning
        upsert = (
            f'INSERT INTO "{compute_table_id(config.project, table, versioned)}" '
            f"({', '.join(columns)}) VALUES ({', '.join('?' * len(columns))}) "
            f"ON CONFLICT(entity_key, feature_name) DO UPDATE SET "
            + ", ".join(f"{c} = excluded.{c}" for c in columns[2:])
        )

        def chunk_rows(chunk: pd.DataFrame) -> Iterator[tuple[Any, ...]]:
            """The statement's rows for a chunk, one feature after another (Feast writes the features
            of one project after another: the same rows, and for an id repeated in the frame the
            same last value of each feature), zipped in C rather than built in a Python loop."""
            keys = _int64_keys(key_prefix, chunk[join_key].to_numpy())
            event_ts = _sqlite_timestamps(chunk[source.timestamp_field])
            created_ts = (
                _sqlite_timestamps(chunk[source.created_timestamp_column])
                if source.created_timestamp_column
                else [None] * len(chunk)
            )
            return itertools.chain.from_iterable(
                zip(
                    keys,
                    itertools.repeat(name),
                    *_value_columns(chunk[name], value_type),
                    event_ts,
                    created_ts,
                    strict=False,  # the repeated name is endless; every other column has the chunk's length
                )
                for name, value_type in features
            )

        chunks = (frame.iloc[start : start + CHUNK_ROWS] for start in range(0, len(frame), CHUNK_ROWS))
        conn = self._get_conn(config)
        with conn:
            conn.executemany(upsert, itertools.chain.from_iterable(map(chunk_rows, chunks)))


def _int64_key_prefix(join_key: str, version: int) -> bytes:
    """The bytes ``serialize_entity_key`` puts before an int64 id's 8 little-endian bytes.

    Taken from Feast's serializer itself and checked against two ids, so that a change of its
    encoding fails here instead of writing keys that no read finds.
    """

    def serialized(value: int) -> bytes:
        key = EntityKeyProto(join_keys=[join_key], entity_values=[ValueProto(int64_val=value)])
        return serialize_entity_key(key, entity_key_serialization_version=version)

    prefix = serialized(0)[:-8]
    for probe in (0, -2):
        if serialized(probe) != prefix + struct.pack("<q", probe):
            raise ValueError(f"entity key serialization {version}: not a prefix and an int64")
    return prefix


def _int64_keys(prefix: bytes, ids: np.ndarray) -> list[bytes]:
    """``serialize_entity_key`` of each id, built by numpy: the prefix, then the id's 8 bytes."""
    width = len(prefix) + 8
    buffer = np.empty((len(ids), width), dtype=np.uint8)
    buffer[:, : len(prefix)] = np.frombuffer(prefix, dtype=np.uint8)
    buffer[:, len(prefix) :] = ids.astype("<i8").view(np.uint8).reshape(-1, 8)
    data = buffer.tobytes()
    return [data[start : start + width] for start in range(0, len(data), width)]


def _value_columns(values: pd.Series, value_type: ValueType) -> tuple[list[bytes], list[str | None]]:
    """(serialized ``ValueProto``, ``value_text``) of each value, as Feast's SQLite write stores
    them; each distinct value is converted by Feast once (a tag takes four values)."""
    codes, distinct = pd.factorize(values, use_na_sentinel=False)
    protos = python_values_to_proto_values(distinct.to_numpy(dtype=object, na_value=None), value_type)
    serialized = np.array([proto.SerializeToString() for proto in protos], dtype=object)
    texts = np.array([extract_text_and_num(proto, False)[0] for proto in protos], dtype=object)
    return serialized[codes].tolist(), texts[codes].tolist()


def _sqlite_timestamps(values: pd.Series) -> list[Any]:
    """Each timestamp as Feast's write stores it: naive UTC, through the SQLite adapter Feast
    registers for ``datetime`` (``int(moment.timestamp())``, which reads a naive time as local).

    In a process whose local time is UTC (no offset, no daylight saving), that is the seconds since
    the epoch of the ``datetime`` (whole microseconds: the nanoseconds are dropped toward the past),
    truncated toward zero as ``int`` does, and numpy works it out; in any other zone each distinct
    timestamp goes through Feast's adapter.
    """
    values = pd.to_datetime(values)
    if values.dt.tz is not None:
        values = values.dt.tz_convert("UTC").dt.tz_localize(None)
    if time.timezone == time.altzone == 0:
        microseconds = values.to_numpy(dtype="datetime64[ns]").view(np.int64) // 1_000
        seconds = np.where(microseconds < 0, -(-microseconds // 10**6), microseconds // 10**6)
        return seconds.tolist()
    codes, distinct = pd.factorize(values)
    adapted = np.array([adapt_datetime_epoch(moment) for moment in distinct.to_pydatetime()], dtype=object)
    return adapted[codes].tolist()
