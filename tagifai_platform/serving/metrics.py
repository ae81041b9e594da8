"""What the service counts, exposed at ``GET /metrics`` in the Prometheus text format.

``tagifai serve`` runs several worker processes, each counting for itself: prometheus-client's
multi-process mode keeps every worker's values in files under ``PROMETHEUS_MULTIPROC_DIR`` (a
fresh directory per start, see :mod:`.server`), and whichever worker answers ``/metrics`` adds
them up. That variable is prometheus-client's own and must be set before the library is imported,
so it is read here rather than through the settings. Without it (the app in a test, in one
process) the same metrics live in the process's default registry.

Labels take a handful of values each: endpoints are the service's routes (anything else is
``other``), statuses and refusal reasons are the service's own.
"""

from __future__ import annotations

import os

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
    multiprocess,
)

REQUESTS = Counter(
    "tagifai_requests", "HTTP requests answered, by endpoint and status.", ["endpoint", "status"]
)
LATENCY = Histogram(
    "tagifai_request_duration_seconds",
    "Time from a request's arrival to its answer, by endpoint and status.",
    ["endpoint", "status"],
    buckets=(0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0),
)
PREDICTIONS = Counter(
    "tagifai_predictions", "Texts answered, by tag and model version.", ["tag", "model_version"]
)
REFUSALS = Counter("tagifai_refusals", "Requests refused, by reason.", ["reason"])
BATCH_TEXTS = Histogram(
    "tagifai_batch_texts",
    "Texts per model call: concurrent requests are answered together.",
    buckets=(1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 2048),
)
# One series per live worker (label ``pid``): a promotion has reached the service when all agree.
MODEL_VERSION = Gauge(
    "tagifai_model_version", "The model version a worker serves.", multiprocess_mode="liveall"
)

CONTENT_TYPE = CONTENT_TYPE_LATEST


def exposition() -> bytes:
    """Every metric of every worker of this service, in the text exposition format."""
    if not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        return generate_latest(REGISTRY)
    registry = CollectorRegistry()
    multiprocess.MultiProcessCollector(registry)
    return generate_latest(registry)


def worker_stopped() -> None:
    """Forget this worker's live series (its counters stay in the totals)."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        multiprocess.mark_process_dead(os.getpid())
