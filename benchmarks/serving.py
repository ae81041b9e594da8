"""Latency of the prediction service and how fast it follows a promotion, on loopback.

Run with ``make benchmark``. Registers two models on a throw-away home, starts ``tagifai serve``
as a user would, times sequential single-text requests, then moves ``champion`` and times how
long the service takes to answer with the new version.
"""

import json
import statistics
import tempfile
import time
from pathlib import Path

import httpx

from benchmarks.dataops import DATASET_DIR
from tagifai_platform.data.sources import read_projects, read_tags
from tagifai_platform.data.transform import label_projects
from tagifai_platform.registry import CHAMPION, ModelRegistry
from tagifai_platform.settings import load_settings
from tagifai_platform_tests.models import register_model
from tagifai_platform_tests.serving.conftest import Service

REQUESTS = 300
TEXT = "Real-time object detection with YOLO on edge devices"


def main() -> None:
    projects = read_projects(str(DATASET_DIR / "projects.csv"))
    labeled = label_projects(projects, read_tags(str(DATASET_DIR / "tags.csv"), projects))
    with tempfile.TemporaryDirectory() as tmp:
        settings = load_settings({"TAGIFAI_HOME": str(Path(tmp) / "home")})
        first = register_model(settings, labeled, champion=True)
        second = register_model(settings, labeled)
        started = time.perf_counter()
        service = Service.start(settings, Path(tmp))
        try:
            startup = time.perf_counter() - started
            latencies = []
            with httpx.Client(base_url=service.url, timeout=30) as client:
                for _ in range(REQUESTS):
                    start = time.perf_counter()
                    client.post("/predict", json={"texts": [TEXT]}).raise_for_status()
                    latencies.append((time.perf_counter() - start) * 1000)
                ModelRegistry(settings.mlflow_tracking_uri, settings.mlflow_artifacts).move_champion(
                    second, {"action": "promote", "by": "benchmark"}
                )
                moved = time.perf_counter()
                while client.get("/model").json()["version"] != second:
                    time.sleep(0.05)
                followed = time.perf_counter() - moved
        finally:
            service.stop()
    quantiles = statistics.quantiles(latencies, n=100)
    print(
        json.dumps(
            {
                "startup_s": round(startup, 1),
                "requests": REQUESTS,
                "p50_ms": round(quantiles[49], 1),
                "p95_ms": round(quantiles[94], 1),
                "promotion_followed_s": round(followed, 2),
                "versions": [first, second],
                "alias": CHAMPION,
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
