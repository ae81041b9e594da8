"""What keeps one client, or too many, from taking the service down (with :mod:`.protocol`).

* :class:`Admission`: a limit on the ``/predict`` requests a worker holds at once. Beyond it a
  request is refused at once with 503 and ``Retry-After``, instead of queueing for seconds behind
  work the worker cannot catch up with; the requests it keeps are answered at normal speed. It
  also counts the body's bytes as they are read, so a body over the limit is refused after at
  most that many bytes, chunked transfer encoding included (a declared ``Content-Length`` over
  the limit is refused before reading anything).
"""

from __future__ import annotations

import time

from fastapi import HTTPException
from fastapi.responses import JSONResponse

from tagifai_platform.serving import metrics

PREDICT_PATH = "/predict"
ENDPOINTS = {PREDICT_PATH, "/health", "/model", "/metrics"}
RETRY_AFTER_SECONDS = 1


def refusal(reason: str, status: int, detail: str, headers: dict | None = None) -> JSONResponse:
    """The answer to a request the service will not serve, counted by ``reason``."""
    metrics.REFUSALS.labels(reason).inc()
    return JSONResponse({"detail": detail, "problems": [detail]}, status_code=status, headers=headers)


def too_large(size: int, max_bytes: int) -> str:
    return f"the body is {size} bytes or more; the limit is {max_bytes}"


class Admission:
    """ASGI middleware: the concurrency limit and body limit of ``/predict``, and the HTTP metrics."""

    def __init__(self, app, max_concurrency: int, max_body_bytes: int):
        self.app = app
        self.max_concurrency = max_concurrency
        self.max_body_bytes = max_body_bytes
        self.in_flight = 0

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        endpoint = scope["path"] if scope["path"] in ENDPOINTS else "other"
        status = 500  # if the app fails before answering, the server answers 500

        async def observed_send(message):
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            if endpoint != PREDICT_PATH:
                await self.app(scope, receive, observed_send)
            elif refused := self._refuse(scope):
                await refused(scope, receive, observed_send)
            else:
                self.in_flight += 1
                try:
                    await self.app(scope, self._limited(receive), observed_send)
                finally:
                    self.in_flight -= 1
        finally:
            labels = (endpoint, str(status))
            metrics.REQUESTS.labels(*labels).inc()
            metrics.LATENCY.labels(*labels).observe(time.perf_counter() - started)

    def _refuse(self, scope) -> JSONResponse | None:
        if self.in_flight >= self.max_concurrency:
            return refusal(
                "overloaded",
                503,
                f"the service is at its limit of {self.max_concurrency} requests at once per worker; "
                f"retry in {RETRY_AFTER_SECONDS} s",
                {"Retry-After": str(RETRY_AFTER_SECONDS)},
            )
        length = dict(scope["headers"]).get(b"content-length", b"0")
        if length.isdigit() and int(length) > self.max_body_bytes:
            return refusal("body_too_large", 413, too_large(int(length), self.max_body_bytes))
        return None

    def _limited(self, receive):
        """``receive``, refusing the request as soon as more than the limit has been read."""
        received = 0

        async def limited_receive():
            nonlocal received
            message = await receive()
            received += len(message.get("body", b""))
            if received > self.max_body_bytes:
                metrics.REFUSALS.labels("body_too_large").inc()
                # FastAPI lets an HTTPException raised while it reads the body through as it is.
                raise HTTPException(413, too_large(received, self.max_body_bytes))
            return message

        return limited_receive
