"""The prediction log: every answer the service gives, in one append-only SQLite file under the home.

SQLite in WAL mode lets several server processes and the monitoring reader use the file at once:
each worker writes the requests it answers together in one short transaction (a group commit),
writers queue on the database lock, readers never block them, and a crash leaves a request's
rows all there or all missing. An answer is sent only after its rows are committed. Triggers
refuse UPDATE and DELETE, so the monitoring input can only grow.

Every write first checks the files, because what goes wrong with them does not show in SQLite's
answers. A file deleted or replaced under a running service would go on being written through
the open handle, where monitoring never looks. A ``-shm`` file (SQLite's shared memory, mapped
into every writer) that is truncated or made immutable kills the process with SIGBUS at the next
write, without a Python error. Both are refused as :class:`LogUnavailable` instead, and so is a
file that cannot be written. A deleted or truncated log needs a restart of the service (reopening
in place while other workers hold the old files is not safe); permissions that come back are
picked up by the next write.

``logged_at`` is stored as fixed-width ISO 8601 in UTC so that text order is time order and the
``since`` filter stays a plain index range.
"""

from __future__ import annotations

import json
import os
import sqlite3
import threading
import time
from collections.abc import Iterable, Mapping
from contextlib import closing
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tagifai_platform.settings import Settings

if TYPE_CHECKING:
    import pandas as pd

COLUMNS = ("request_id", "logged_at", "text", "tag", "confidence", "probabilities", "model_version")
# Writers wait for each other instead of failing: a burst queues for milliseconds, not seconds.
BUSY_TIMEOUT_SECONDS = 10.0

SCHEMA = """
BEGIN;
CREATE TABLE IF NOT EXISTS predictions (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    request_id TEXT NOT NULL,
    logged_at TEXT NOT NULL,
    text TEXT NOT NULL,
    tag TEXT NOT NULL,
    confidence REAL NOT NULL,
    probabilities TEXT NOT NULL,
    model_version INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS predictions_logged_at ON predictions (logged_at);
CREATE TRIGGER IF NOT EXISTS predictions_no_update BEFORE UPDATE ON predictions
BEGIN SELECT RAISE(ABORT, 'the prediction log is append-only'); END;
CREATE TRIGGER IF NOT EXISTS predictions_no_delete BEFORE DELETE ON predictions
BEGIN SELECT RAISE(ABORT, 'the prediction log is append-only'); END;
COMMIT;
"""


def log_path(settings: Settings) -> Path:
    return settings.home / "serving" / "predictions.db"


def utc_iso(moment: datetime | str) -> str:
    """``moment`` as the stored text form; a naive time or string is taken to be UTC already."""
    if isinstance(moment, str):
        moment = datetime.fromisoformat(moment)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).isoformat(timespec="microseconds")


class LogUnavailable(Exception):
    """The prediction log cannot take a record; the message says why."""


class PredictionLog:
    """The writing side: one connection, shared by the threads of one process.

    Threads take turns on a lock rather than in SQLite's busy handler, which sleeps in steps of up
    to 100 ms and is left to arbitrate between processes. The connection stays open because
    closing the last one checkpoints the WAL, an fsync per request.
    """

    def __init__(self, path: Path):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._writing = threading.Lock()
        self._connection = sqlite3.connect(self.path, timeout=BUSY_TIMEOUT_SECONDS, check_same_thread=False)
        self._prepare()
        self._identity = _identity(self.path)
        self._shm_size = 0
        self._check_files()  # notes the size of the -shm file as mapped now

    def _prepare(self) -> None:
        """Switch to WAL and create the table, retrying while another process does the same.

        Changing the journal mode needs an exclusive lock, and SQLite answers "database is locked"
        at once, without its busy handler, when two connections race to set up a new file.
        """
        deadline = time.monotonic() + BUSY_TIMEOUT_SECONDS
        while True:
            try:
                self._connection.execute("PRAGMA journal_mode=WAL")
                # With WAL, NORMAL survives a crash of the service (only a power cut can lose the
                # last commits) and spares each request an fsync.
                self._connection.execute("PRAGMA synchronous=NORMAL")
                self._connection.executescript(SCHEMA)
                return
            except sqlite3.OperationalError as error:
                if "locked" not in str(error) or time.monotonic() > deadline:
                    raise
                time.sleep(0.05)

    def close(self) -> None:
        with self._writing:
            self._connection.close()

    def append(
        self,
        request_id: str,
        model_version: int,
        predictions: Iterable[Mapping[str, Any]],
        at: datetime | None = None,
    ) -> None:
        """Log the ``{"text", "tag", "probabilities"}`` answers of one request in one transaction."""
        self.append_many(model_version, [(request_id, predictions)], at)

    def append_many(
        self,
        model_version: int,
        requests: Iterable[tuple[str, Iterable[Mapping[str, Any]]]],
        at: datetime | None = None,
    ) -> None:
        """Log the answers of several ``(request_id, predictions)`` in one transaction.

        Raises :class:`LogUnavailable` when nothing could be written, with SQLite's reason.
        """
        logged_at = utc_iso(at or datetime.now(UTC))
        rows = [
            (
                request_id,
                logged_at,
                prediction["text"],
                prediction["tag"],
                max(prediction["probabilities"].values()),
                json.dumps(prediction["probabilities"], sort_keys=True),
                model_version,
            )
            for request_id, predictions in requests
            for prediction in predictions
        ]
        with self._writing:
            self._check_files()
            try:
                with self._connection:
                    self._connection.executemany(
                        f"INSERT INTO predictions ({', '.join(COLUMNS)}) VALUES (?, ?, ?, ?, ?, ?, ?)", rows
                    )
            except sqlite3.Error as error:
                raise LogUnavailable(f"the prediction log {self.path} cannot be written: {error}") from error

    def probe(self) -> None:
        """Raise :class:`LogUnavailable` unless a write could be committed now, without writing one.

        Takes and releases SQLite's write lock, which a read-only or vanished file refuses.
        """
        with self._writing:
            self._check_files()
            try:
                self._connection.execute("BEGIN IMMEDIATE")
                self._connection.execute("ROLLBACK")
            except sqlite3.Error as error:
                raise LogUnavailable(f"the prediction log {self.path} cannot be written: {error}") from error

    def _check_files(self) -> None:
        try:
            current = _identity(self.path)
        except FileNotFoundError:
            current = None
        if current != self._identity:
            raise LogUnavailable(
                f"the prediction log {self.path} was deleted or replaced while the service ran; "
                "restart the service to start a new one"
            )
        for name in (self.path, *(Path(f"{self.path}{suffix}") for suffix in ("-wal", "-shm"))):
            if name.exists() and not os.access(name, os.W_OK):  # also false for an immutable file
                raise LogUnavailable(f"the prediction log's file {name} cannot be written")
        shm = Path(f"{self.path}-shm")
        size = shm.stat().st_size if shm.exists() else 0
        if size < self._shm_size:
            raise LogUnavailable(
                f"the prediction log's shared memory {shm} was truncated; restart the service"
            )
        self._shm_size = size


def _identity(path: Path) -> tuple[int, int]:
    status = os.stat(path)
    return status.st_dev, status.st_ino


def read_predictions(source: Settings | str | Path, since: datetime | str | None = None) -> pd.DataFrame:
    """The logged predictions in logging order, from ``since`` (inclusive) on.

    ``source`` is the settings of a home or the path of the log file. A log that does not exist
    yet reads as an empty frame with the same columns, since no traffic is not an error for
    monitoring. ``probabilities`` is the JSON object ``{tag: probability}`` as a string, because
    the set of tags may differ between model versions; ``confidence`` is its largest value.
    """
    import pandas as pd

    path = log_path(source) if isinstance(source, Settings) else Path(source)
    if not path.exists():
        frame = pd.DataFrame({column: pd.Series(dtype=object) for column in COLUMNS})
    else:
        query = f"SELECT {', '.join(COLUMNS)} FROM predictions"
        params: tuple = ()
        if since is not None:
            query += " WHERE logged_at >= ?"
            params = (utc_iso(since),)
        read_only = f"{path.as_uri()}?mode=ro"
        with closing(sqlite3.connect(read_only, uri=True, timeout=BUSY_TIMEOUT_SECONDS)) as connection:
            frame = pd.read_sql_query(f"{query} ORDER BY id", connection, params=params)
    frame["logged_at"] = pd.to_datetime(frame["logged_at"], utc=True, format="ISO8601")
    return frame.astype({"confidence": "float64", "model_version": "int64"})
