"""uvicorn's HTTP protocol with a deadline for receiving each request.

uvicorn has no timeout for receiving a request: its keep-alive timer only covers the idle time
between requests, and any byte resets it, so a client trickling its headers or body would hold
a connection forever. Here each request must arrive whole within the deadline (counted from the
connection, or from the first byte of the next request on a kept-alive one), or its connection
is closed. ASGI middleware cannot do this: it only runs once the headers are in.

The supervisor process imports this module to hand the class to uvicorn, so it must not import
prometheus-client (see :mod:`.metrics`): that waits until a deadline expires in a worker.
"""

from __future__ import annotations

import asyncio
import logging

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

# The lifespan state key the deadline is read from: uvicorn hands that state to the protocol.
DEADLINE_STATE = "request_deadline_seconds"

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
        from tagifai_platform.serving import metrics  # a worker's, never the supervisor's

        metrics.REFUSALS.labels("request_timeout").inc()
        logger.warning("Closed a connection whose request did not arrive within %s s", seconds)
        self.transport.close()
