"""What keeps one client, or too many, from taking the service down.

* :class:`RequestDeadlineProtocol`: uvicorn has no timeout for receiving a request (its keep-alive
  timer only covers the idle time between requests, and a byte resets it), so a client trickling
  its headers or body would hold a connection forever. Each request must arrive whole within the
  deadline, or its connection is closed. ASGI middleware cannot do this: it only runs once the
  headers are in.
* :class:`Admission`: a limit on the ``/predict`` requests a worker holds at once. Beyond it a
  request is refused at once with 503 and ``Retry-After``, instead of queueing for seconds behind
  work the worker cannot catch up with; the requests it keeps are answered at normal speed. It
  also counts the body's bytes as they are read, so a body over the limit is refused after at
  most that many bytes, chunked transfer encoding included (a declared ``Content-Length`` over
  the limit is refused before reading anything).
"""

from __future__ import annotations

import asyncio
import logging
import time

from fastapi import HTTPException
from fastapi.responses import JSONResponse
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from tagifai_platform.serving import metrics

# The lifespan state key the deadline is read from: uvicorn hands that state to the protocol.
DEADLINE_STATE = "request_deadline_seconds"
PREDICT_PATH = "/predict"
ENDPOINTS = {PREDICT_PATH, "/health", "/model", "/metrics"}
RETRY_AFTER_SECONDS = 1

logger = logging.getLogger(__name__)


class RequestDeadlineProtocol(HttpToolsProtocol):
    """uvicorn's HTTP protocol, closing a connection whose request is not received in time."""

    _deadline: asyncio.TimerHandle | None = None

    def connection_made(self, transport) -> None:
        super().connection_made(transport)
        self._arm()

    def on_message_begin(self) -> None:  # the next request on a kept-alive connection
        super().on_message_begin()
        self._arm()

    def on_message_complete(self) -> None:
        super().on_message_complete()
        self._disarm()

    def connection_lost(self, exc) -> None:
        self._disarm()
        super().connection_lost(exc)

    def _arm(self) -> None:
        self._disarm()
        seconds = self.app_state.get(DEADLINE_STATE)
        if seconds:
            self._deadline = self.loop.call_later(seconds, self._expire, seconds)

    def _disarm(self) -> None:
        if self._deadline is not None:
            self._deadline.cancel()
            self._deadline = None

    def _expire(self, seconds: float) -> None:
        self._deadline = None
        metrics.REFUSALS.labels("request_timeout").inc()
        logger.warning("Closed a connection whose request did not arrive within %s s", seconds)
        self.transport.close()


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
