"""The prediction service under load, measured with a real HTTP load generator on loopback.

Run with ``make benchmark`` (or ``python -m benchmarks.serving``); needs ``hey`` (Debian:
``apt-get install hey``). Registers two model versions on a throw-away home, starts
``tagifai serve`` as a user would (all of ``TAGIFAI_SERVE_*`` at their defaults unless set in
the environment), then runs each scenario of the issue's target table and prints one JSON
object. ``hey -q`` paces each of its connections, which makes a fixed arrival rate (open loop)
as long as answers come faster than the pace; without ``-q`` it sends back to back (closed loop).
Only 127.0.0.1 is ever loaded, and every run is bounded in time.
"""

import json
import os
import re
import shutil
import subprocess
import tempfile
import threading
import time
from pathlib import Path

from benchmarks.dataops import DATASET_DIR
from tagifai_platform.data.sources import read_holdout, read_projects, read_tags
from tagifai_platform.data.transform import label_holdout, label_projects
from tagifai_platform.harness import WEAK_PARAMS, Service, register_model, wait_until_all_workers_serve
from tagifai_platform.registry import ModelRegistry
from tagifai_platform.serving.prediction_log import read_predictions
from tagifai_platform.settings import load_settings

TEXT = "Real-time object detection with YOLO on edge devices: a convolutional network for drone video"
STEADY_SECONDS = 60


def hey(url: str, body: Path, seconds: float, connections: int, rate_per_connection: float | None = None):
    """Run hey against ``url`` and return its figures: rate, latency quantiles, statuses, errors."""
    command = ["hey", "-z", f"{seconds}s", "-c", str(connections), "-m", "POST", "-T", "application/json"]
    command += ["-D", str(body)] + (["-q", str(rate_per_connection)] if rate_per_connection else []) + [url]
    output = subprocess.run(command, capture_output=True, text=True, timeout=seconds + 60, check=True).stdout
    statuses = {int(code): int(count) for code, count in re.findall(r"\[(\d{3})\]\s+(\d+) responses", output)}
    errors = sum(int(count) for count in re.findall(r"^\s+\[(\d+)\]\s+\D", output, re.MULTILINE))
    quantiles = {
        f"p{q}_ms": round(float(s) * 1000, 1) for q, s in re.findall(r"(\d+)% in ([\d.]+) secs", output)
    }
    return {
        "requests_per_s": round(float(re.search(r"Requests/sec:\s+([\d.]+)", output).group(1)), 1),
        **{key: quantiles[key] for key in ("p50_ms", "p99_ms") if key in quantiles},
        "statuses": statuses,
        "transport_errors": errors,
    }


def cpu_seconds(pid: int) -> float:
    """CPU time used so far by process ``pid`` and its living descendants (the service's workers)."""
    children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    own = (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime + stime
    return own + sum(cpu_seconds(int(child)) for child in children)


def with_cpu(pid: int, scenario) -> dict:
    """The figures of ``scenario()`` plus the service's CPU time per answered request.

    The machine is shared, so latency depends on what else runs; CPU time per request does not,
    and bounds what the service can do with the cores to itself.
    """
    before = cpu_seconds(pid)
    figures = scenario()
    answered = figures["statuses"].get(200, 0)
    figures["service_cpu_ms_per_answer"] = round((cpu_seconds(pid) - before) * 1000 / max(answered, 1), 2)
    return figures


def promotion_under_load(
    url: str, body: Path, registry: ModelRegistry, versions: tuple[int, int], workers: int
):
    """200 requests/s for 24 s while ``champion`` moves to the second version and back."""
    result = {}
    load = threading.Thread(target=lambda: result.update(hey(f"{url}/predict", body, 24, 20, 10)))
    load.start()
    began, pickup = time.monotonic(), []
    for version, at in ((versions[1], 6), (versions[0], 14)):
        time.sleep(max(0.0, began + at - time.monotonic()))
        registry.move_champion(version, {"action": "promote", "by": "benchmark"})
        pickup.append(round(wait_until_all_workers_serve(url, version, workers, limit=60), 2))
    load.join()
    return {**result, "all_workers_switched_after_s": pickup}


def main() -> None:
    if shutil.which("hey") is None:
        raise SystemExit("hey is not installed: apt-get install hey")
    load_before = os.getloadavg()[0]
    projects = read_projects(str(DATASET_DIR / "projects.csv"))
    labeled = label_projects(projects, read_tags(str(DATASET_DIR / "tags.csv"), projects))
    holdout = label_holdout(read_holdout(str(DATASET_DIR / "holdout.csv")))
    texts = (labeled["text"].tolist() + holdout["text"].tolist()) * 2
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        settings = load_settings({**os.environ, "TAGIFAI_HOME": str(tmp / "home")})
        registry = ModelRegistry(settings.mlflow_tracking_uri, settings.mlflow_artifacts)
        versions = (
            register_model(settings, labeled, champion=True),
            register_model(settings, labeled, WEAK_PARAMS),
        )
        single, batch = tmp / "single.json", tmp / "batch.json"
        single.write_text(json.dumps({"texts": [TEXT]}))
        batch.write_text(json.dumps({"texts": texts[: settings.serve_max_texts]}))
        started = time.monotonic()
        service = Service.start(settings, tmp)
        try:
            wait_until_all_workers_serve(service.url, versions[0], settings.serve_workers, limit=180)
            figures = {"startup_s": round(time.monotonic() - started, 1)}
            predict = f"{service.url}/predict"
            pid = service.process.pid
            logged_before = len(read_predictions(settings))
            steady = with_cpu(pid, lambda: hey(predict, single, STEADY_SECONDS, 20, 10))
            steady["logged"] = len(read_predictions(settings)) - logged_before
            figures["open_loop_200_per_s"] = steady
            figures["open_loop_600_per_s"] = with_cpu(pid, lambda: hey(predict, single, 20, 60, 10))
            figures["closed_loop_32_connections"] = with_cpu(pid, lambda: hey(predict, single, 20, 32))
            batches = with_cpu(pid, lambda: hey(predict, batch, 20, 4))
            batches["texts_per_request"] = settings.serve_max_texts
            batches["texts_per_s"] = round(batches["requests_per_s"] * settings.serve_max_texts)
            figures["batch"] = batches
            figures["overload_closed_loop_400_connections"] = hey(predict, single, 10, 400)
            figures["after_overload_200_per_s"] = hey(predict, single, 10, 20, 10)
            figures["promotion_and_rollback_at_200_per_s"] = promotion_under_load(
                service.url, single, registry, versions, settings.serve_workers
            )
        finally:
            service.stop()
    figures["machine"] = {
        "cores": os.cpu_count(),
        "cpu": next(
            (
                line.split(":", 1)[1].strip()
                for line in Path("/proc/cpuinfo").read_text().splitlines()
                if line.startswith("model name")
            ),
            "unknown",
        ),
        "workers": settings.serve_workers,
        "max_concurrency_per_worker": settings.serve_max_concurrency,
        "load_average_before": load_before,
        "load_average_after": os.getloadavg()[0],
    }
    print(json.dumps(figures, indent=2))


if __name__ == "__main__":
    main()
