"""A one-worker ``tagifai serve`` with tiny limits: oversized, slow and excess requests, and a log that goes.

The service runs on a home of its own, with a copy of the model registry of ``model_home`` (the
copied home follows itself), so that taking its prediction log away disturbs no other test.
"""

import os
import select
import shutil
import socket
import threading
import time

import httpx
import pytest

from tagifai_platform.harness import Service
from tagifai_platform.serving.schemas import max_body_bytes
from tagifai_platform.settings import load_settings

MAX_TEXTS = 20
TIMEOUT_SECONDS = 2
TEXT = "Real-time object detection with YOLO on drones " * 100


@pytest.fixture(scope="module")
def limited(model_home, tmp_path_factory):
    root = tmp_path_factory.mktemp("limited")
    shutil.copytree(model_home.settings.home / "mlflow", root / "home" / "mlflow")
    settings = load_settings({"TAGIFAI_HOME": str(root / "home")})
    service = Service.start(
        settings,
        root,
        TAGIFAI_SERVE_WORKERS="1",
        TAGIFAI_SERVE_MAX_CONCURRENCY="1",
        TAGIFAI_SERVE_MAX_TEXTS=str(MAX_TEXTS),
        TAGIFAI_SERVE_TIMEOUT_SECONDS=str(TIMEOUT_SECONDS),
    )
    yield service, settings
    service.stop()


def connect(service: Service) -> socket.socket:
    host, port = service.url.removeprefix("http://").split(":")
    return socket.create_connection((host, int(port)), timeout=30)


def read_response(sock: socket.socket) -> bytes:
    """One whole HTTP response with a Content-Length, however the server split it into segments."""
    response = b""
    while b"\r\n\r\n" not in response or len(response.split(b"\r\n\r\n", 1)[1]) < int(
        response.lower().split(b"content-length: ", 1)[1].split(b"\r\n", 1)[0]
    ):
        received = sock.recv(4096)
        if not received:
            break
        response += received
    return response


def rss_mb(pid: int) -> float:
    status = open(f"/proc/{pid}/status").read()
    return int(status.split("VmRSS:")[1].split()[0]) / 1024


def test_a_chunked_body_over_the_limit_is_refused_without_the_process_growing(limited):
    service, _ = limited
    before = rss_mb(service.process.pid)
    chunk = b"a" * (1 << 20)
    response, sent = b"", 0
    with connect(service) as sock:
        sock.sendall(
            b"POST /predict HTTP/1.1\r\nHost: test\r\nContent-Type: application/json\r\n"
            b"Transfer-Encoding: chunked\r\n\r\n"
        )
        sock.settimeout(2)
        for _ in range(50):  # 50 MB offered, over 100 times the limit
            if select.select([sock], [], [], 0)[0]:
                break
            try:
                sock.sendall(b"%x\r\n%s\r\n" % (len(chunk), chunk))
                sent += len(chunk)
            except (TimeoutError, ConnectionError):  # the server stopped reading
                break
        sock.settimeout(10)
        response = read_response(sock)
    assert response.startswith(b"HTTP/1.1 413"), response[:200]
    assert f"the limit is {max_body_bytes(MAX_TEXTS)}".encode() in response
    assert rss_mb(service.process.pid) - before < 20, f"the worker grew while {sent} bytes were offered"


def test_a_client_that_sends_its_request_too_slowly_is_cut_off(limited):
    service, _ = limited
    for start in (
        b"POST /predict HTTP/1.1\r\nHost: test\r\n",  # headers never finished
        b"POST /predict HTTP/1.1\r\nHost: test\r\nContent-Length: 100\r\n\r\n{",  # the body never finished
    ):
        with connect(service) as sock:
            started = time.monotonic()
            sock.sendall(start)
            assert sock.recv(4096) == b"", "closed without an answer"
            assert time.monotonic() - started < TIMEOUT_SECONDS + 5
    assert httpx.post(f"{service.url}/predict", json={"texts": ["YOLO"]}, timeout=30).status_code == 200


def test_beyond_the_concurrency_limit_requests_are_refused_at_once_and_the_service_recovers(limited):
    service, _ = limited
    outcomes, start = [], threading.Barrier(12)

    def send():
        with httpx.Client(base_url=service.url, timeout=30) as http:
            start.wait(10)
            sent = time.monotonic()
            response = http.post("/predict", json={"texts": [TEXT] * MAX_TEXTS})
            outcomes.append(
                (response.status_code, response.headers.get("retry-after"), time.monotonic() - sent)
            )

    threads = [threading.Thread(target=send) for _ in range(12)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    statuses = [status for status, _, _ in outcomes]
    assert set(statuses) == {200, 503} and len(statuses) == 12, statuses
    assert all(retry == "1" for status, retry, _ in outcomes if status == 503)
    metrics = httpx.get(f"{service.url}/metrics", timeout=10).text
    assert f'tagifai_refusals_total{{reason="overloaded"}} {float(statuses.count(503))}' in metrics
    for _ in range(5):  # back to normal once the burst is over
        assert httpx.post(f"{service.url}/predict", json={"texts": ["YOLO"]}, timeout=30).status_code == 200


def test_health_and_predict_say_so_while_the_log_is_gone_and_recover_when_it_is_back(limited):
    service, settings = limited
    path = settings.home / "serving" / "predictions.db"
    assert httpx.get(f"{service.url}/health", timeout=10).status_code == 200
    os.rename(path, path.with_name("moved-away.db"))
    try:
        health = httpx.get(f"{service.url}/health", timeout=10)
        assert health.status_code == 503 and health.json()["prediction_log"] == "unavailable"
        assert "deleted or replaced" in health.json()["detail"]
        refused = httpx.post(f"{service.url}/predict", json={"texts": ["YOLO"]}, timeout=30)
        assert refused.status_code == 503 and "deleted or replaced" in refused.json()["detail"]
    finally:
        os.rename(path.with_name("moved-away.db"), path)
    assert httpx.get(f"{service.url}/health", timeout=10).json()["status"] == "ok"
    assert httpx.post(f"{service.url}/predict", json={"texts": ["YOLO"]}, timeout=30).status_code == 200
