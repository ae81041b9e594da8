"""The prediction log: what a record holds, how it reads back, and that concurrent writers lose nothing."""

import json
import sqlite3
import subprocess
import sys
import threading
import time
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pandas as pd
import pytest

from tagifai_platform.serving.prediction_log import (
    COLUMNS,
    LogUnavailable,
    PredictionLog,
    log_path,
    read_predictions,
)
from tagifai_platform.settings import load_settings

ANSWER = {
    "text": "YOLO for drones",
    "tag": "computer-vision",
    "probabilities": {"computer-vision": 0.8, "mlops": 0.2},
}


@pytest.fixture
def log(tmp_path):
    log = PredictionLog(tmp_path / "serving" / "predictions.db")
    yield log
    log.close()


def test_a_request_reads_back_as_one_row_per_text(log):
    second = {
        "text": "BERT for tweets",
        "tag": "other",
        "probabilities": {"computer-vision": 0.4, "mlops": 0.6},
    }
    log.append("request-1", 3, [ANSWER, second])
    frame = read_predictions(log.path)
    assert tuple(frame.columns) == COLUMNS
    assert frame["request_id"].tolist() == ["request-1", "request-1"]
    assert frame["text"].tolist() == ["YOLO for drones", "BERT for tweets"]
    assert frame["confidence"].tolist() == [0.8, 0.6]
    assert json.loads(frame["probabilities"][1]) == second["probabilities"]
    assert frame["model_version"].tolist() == [3, 3]
    assert str(frame["logged_at"].dtype) == "datetime64[ns, UTC]"
    assert abs(frame["logged_at"][0] - pd.Timestamp.now(tz="UTC")) < pd.Timedelta(minutes=1)


def test_since_keeps_the_records_from_that_moment_on(log):
    start = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)
    for minute in range(3):
        log.append(f"request-{minute}", 1, [ANSWER], at=start + timedelta(minutes=minute))
    one_minute_in = start + timedelta(minutes=1)
    assert read_predictions(log.path, since=one_minute_in)["request_id"].tolist() == [
        "request-1",
        "request-2",
    ]
    assert len(read_predictions(log.path, since="2025-03-01T12:01:30Z")) == 1
    assert len(read_predictions(log.path, since=datetime(2025, 3, 1, 12, 2))) == 1, "naive means UTC"
    same_moment_in_new_york = datetime(2025, 3, 1, 7, 1, tzinfo=timezone(timedelta(hours=-5)))
    assert len(read_predictions(log.path, since=same_moment_in_new_york)) == 2


def test_a_home_without_traffic_reads_as_an_empty_frame(tmp_path):
    settings = load_settings({"TAGIFAI_HOME": str(tmp_path / "home")})
    frame = read_predictions(settings)
    assert tuple(frame.columns) == COLUMNS and frame.empty
    assert not log_path(settings).exists(), "reading creates nothing"


def test_the_log_is_in_wal_mode_and_append_only(log):
    log.append("request-1", 1, [ANSWER])
    with sqlite3.connect(log.path) as connection:
        assert connection.execute("PRAGMA journal_mode").fetchone() == ("wal",)
        for statement in ("UPDATE predictions SET tag = 'mlops'", "DELETE FROM predictions"):
            with pytest.raises(sqlite3.IntegrityError, match="append-only"):
                connection.execute(statement)
    assert read_predictions(log.path)["tag"].tolist() == ["computer-vision"]


def test_threads_appending_at_once_lose_nothing(log):
    threads, requests = 8, 50

    def write(thread: int) -> None:
        for number in range(requests):
            log.append(f"t{thread}-{number}", 1, [ANSWER, ANSWER])

    workers = [threading.Thread(target=write, args=(thread,)) for thread in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(60)
    frame = read_predictions(log.path)
    assert len(frame) == threads * requests * 2
    assert (
        frame.groupby("request_id").size().eq(2).all() and frame["request_id"].nunique() == threads * requests
    )


WRITER = """
import sys, time
from pathlib import Path
from tagifai_platform.serving.prediction_log import PredictionLog
log_file, name, requests, gate = sys.argv[1], sys.argv[2], int(sys.argv[3]), Path(sys.argv[4])
log = PredictionLog(log_file)
Path(f"{gate}.{name}").touch()
deadline = time.monotonic() + 30
while not gate.exists() and time.monotonic() < deadline:
    time.sleep(0.005)
for number in range(requests):
    log.append(f"{name}-{number}", 1, [{"text": "t", "tag": "mlops", "probabilities": {"mlops": 1.0}}])
"""


def test_two_processes_appending_at_once_lose_nothing(tmp_path):
    path, gate, requests = tmp_path / "predictions.db", tmp_path / "go", 500
    names = ("first", "second")
    writers = [
        subprocess.Popen(
            [sys.executable, "-c", WRITER, str(path), name, str(requests), str(gate)], stderr=subprocess.PIPE
        )
        for name in names
    ]
    deadline = time.monotonic() + 60
    while not all(Path(f"{gate}.{name}").exists() for name in names) and time.monotonic() < deadline:
        time.sleep(0.01)
    gate.touch()  # both are ready: let them write at the same time
    for writer in writers:
        _, errors = writer.communicate(timeout=60)
        assert writer.returncode == 0, errors.decode()
    frame = read_predictions(path)
    assert len(frame) == 2 * requests and frame["request_id"].nunique() == 2 * requests
    writer_order = frame["request_id"].str.split("-").str[0]
    assert (writer_order != writer_order.shift()).sum() > 2, "the two writers did interleave"


def assert_refused(log: PredictionLog, reason: str) -> None:
    """Neither a write nor the health probe gets through, and both say why."""
    with pytest.raises(LogUnavailable, match=reason):
        log.append("refused", 1, [ANSWER])
    with pytest.raises(LogUnavailable, match=reason):
        log.probe()


def test_several_requests_are_written_in_one_transaction(log):
    log.append_many(4, [("first", [ANSWER]), ("second", [ANSWER, ANSWER])])
    frame = read_predictions(log.path)
    assert frame["request_id"].tolist() == ["first", "second", "second"]
    assert frame["logged_at"].nunique() == 1 and set(frame["model_version"]) == {4}


def test_a_log_deleted_or_replaced_under_the_writer_is_reported_not_written(log):
    log.append("before", 1, [ANSWER])
    log.probe()
    for suffix in ("", "-wal", "-shm"):
        Path(f"{log.path}{suffix}").unlink(missing_ok=True)
    assert_refused(log, "deleted or replaced")
    log.path.write_bytes(b"")  # another file at the same path is not the log that was opened
    assert_refused(log, "deleted or replaced")


def test_a_log_that_refuses_writes_is_reported(tmp_path):
    path = tmp_path / "predictions.db"
    PredictionLog(path).close()
    read_only = PredictionLog(path)
    read_only._connection.execute("PRAGMA query_only = ON")  # what a read-only file does to a writer
    assert_refused(read_only, "cannot be written")
    read_only.close()


def test_a_truncated_shared_memory_file_is_refused_instead_of_crashing_the_writer(log):
    log.append("before", 1, [ANSWER])
    shm = Path(f"{log.path}-shm")
    content = shm.read_bytes()
    shm.write_bytes(b"")  # writing through the mapping now would be SIGBUS
    try:
        assert_refused(log, "truncated")
    finally:
        shm.write_bytes(content)  # so that closing the connection can unmap it


@pytest.mark.parametrize("suffix", ["", "-shm"])
def test_a_file_of_the_log_made_immutable_is_refused_and_taken_back_once_writable(log, suffix):
    log.append("before", 1, [ANSWER])
    name = f"{log.path}{suffix}"
    if subprocess.run(["chattr", "+i", name], capture_output=True).returncode != 0:
        pytest.skip("chattr is not available here")  # the one way to make a file unwritable for root
    try:
        assert_refused(log, "cannot be written")
    finally:
        subprocess.run(["chattr", "-i", name], check=True)
    log.append("after", 1, [ANSWER])
    assert read_predictions(log.path)["request_id"].tolist() == ["before", "after"]
