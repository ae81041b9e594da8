"""``tagifai serve``: uvicorn with one worker process per core, all answering on one port.

One Python process answers about 200 single-text requests a second (the GIL keeps the model to
one core), so the service runs ``TAGIFAI_SERVE_WORKERS`` processes under uvicorn's supervisor,
which restarts a worker that dies. Each worker builds its app from the environment
(:func:`.app.app_from_environment`), follows the ``champion`` alias on its own and writes to the
shared prediction log. This module imports neither the app nor prometheus-client: the metrics
directory must be in the environment before either is imported, and the supervisor must not
count as a worker in ``/metrics``.
"""

from __future__ import annotations

import os
import shutil
import tempfile

from tagifai_platform.settings import Settings

APP = "tagifai_platform.serving.app:app_from_environment"


def serve(settings: Settings, host: str = "127.0.0.1", port: int = 8000) -> None:
    """Run the service until interrupted; uvicorn finishes the requests in flight on SIGINT/SIGTERM.

    The workers read their settings from the environment, so ``settings`` must be that of this
    process's environment (as the CLI's are); it decides the number of workers and the deadlines.
    """
    import uvicorn

    # Each start gets a fresh metrics directory: counts of an earlier run must not carry over,
    # and two services on one home must not add up each other's.
    metrics_dir = tempfile.mkdtemp(prefix="tagifai-metrics-")
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = metrics_dir
    from tagifai_platform.serving.protocol import RequestDeadlineProtocol

    try:
        uvicorn.run(
            APP,
            factory=True,
            host=host,
            port=port,
            workers=settings.serve_workers,
            http=RequestDeadlineProtocol,
            loop="uvloop",
            access_log=False,  # a line per request costs more than the request's own bookkeeping
            timeout_graceful_shutdown=int(settings.serve_timeout_seconds) + 1,
        )
    finally:
        shutil.rmtree(metrics_dir, ignore_errors=True)
