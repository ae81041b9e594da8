"""``tagifai serve`` as a real process, with two workers, on a home with two model versions."""

import json
import subprocess
import sys
import threading
import time

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from tagifai_platform.harness import served_versions, wait_until_all_workers_serve
from tagifai_platform.serving.prediction_log import read_predictions
from tagifai_platform.settings import Settings
from tagifai_platform_tests.serving.cases import BAD_REQUESTS

VISION = (
    "Real-time object detection with YOLO: convolutional networks find bounding boxes in images and video"
)
LANGUAGE = "Fine-tuning BERT transformers for sentiment analysis and named entity recognition on text corpora"
TAGS = {"computer-vision", "natural-language-processing", "mlops", "other"}
# A swap needs one refresh interval plus loading the new version; more than this is a stuck refresh.
PICKUP_SECONDS = Settings.serve_refresh_seconds + 30
WORKERS = 2


def test_predictions_are_sane_and_logged(client, model_home):
    response = client.post("/predict", json={"texts": [VISION, LANGUAGE]})
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["model_version"] == model_home.strong
    assert [answer["tag"] for answer in body["predictions"]] == [
        "computer-vision",
        "natural-language-processing",
    ]
    for answer in body["predictions"]:
        assert set(answer["probabilities"]) <= TAGS
        assert sum(answer["probabilities"].values()) == pytest.approx(1.0)
        assert answer["confidence"] == max(answer["probabilities"].values())
    assert response.headers["x-request-id"] == body["request_id"]

    logged = read_predictions(model_home.settings)
    logged = logged[logged["request_id"] == body["request_id"]]
    assert logged["text"].tolist() == [VISION, LANGUAGE]
    assert logged["tag"].tolist() == ["computer-vision", "natural-language-processing"]
    assert logged["model_version"].tolist() == [model_home.strong] * 2
    assert json.loads(logged["probabilities"].iloc[0]) == body["predictions"][0]["probabilities"]


def test_health_and_model_describe_the_champion(client, model_home):
    health = client.get("/health")
    assert health.status_code == 200 and health.json()["status"] == "ok"
    assert health.json()["model_version"] == model_home.strong
    model = client.get("/model").json()
    assert model["version"] == model_home.strong and model["alias"] == "champion"
    assert {"f1", "precision", "recall"} <= set(model["holdout_metrics"]) and model["holdout_metrics"][
        "f1"
    ] > 0.85
    assert model["promoted_at"] == model["promotion"]["at"]
    assert model["promotion"]["reason"] == "serving test fixture"


def test_every_malformed_request_gets_its_4xx_and_the_service_carries_on(client):
    for case, (request, status, phrase) in BAD_REQUESTS.items():
        response = client.post("/predict", **request)
        assert response.status_code == status, f"{case}: {response.text}"
        assert phrase in response.json()["detail"], case
    assert client.post("/predict", json={"texts": [VISION]}).status_code == 200


def keep_predicting(url: str, stop: threading.Event, answers: list) -> None:
    """Send requests back to back until told to stop (or a minute has passed), noting when each was
    sent and its outcome."""
    deadline = time.monotonic() + 60
    with httpx.Client(base_url=url, timeout=30) as http:
        while not stop.is_set() and time.monotonic() < deadline:
            sent_at = time.monotonic()
            try:
                response = http.post("/predict", json={"texts": [VISION]})
                answers.append((sent_at, response.status_code, response.json().get("model_version")))
            except httpx.HTTPError as error:
                answers.append((sent_at, repr(error), None))


def test_a_promotion_and_a_rollback_are_picked_up_by_every_worker_under_load_without_a_failed_request(
    client, service, model_home
):
    registry = model_home.registry
    wait_until_all_workers_serve(service.url, model_home.strong, WORKERS, PICKUP_SECONDS)
    stop = threading.Event()
    answers_per_client = [[], []]
    clients = [
        threading.Thread(target=keep_predicting, args=(service.url, stop, answers))
        for answers in answers_per_client
    ]
    for thread in clients:
        thread.start()
    moved, switched = [], []
    try:
        time.sleep(0.3)
        for version, reason in (
            (model_home.weak, "promotion under load"),
            (model_home.strong, "rollback under load"),
        ):
            moved.append(time.monotonic())
            registry.move_champion(version, {"reason": reason})
            wait_until_all_workers_serve(service.url, version, WORKERS, PICKUP_SECONDS)
            switched.append(time.monotonic())
            if version == model_home.weak:
                model = client.get("/model").json()
                assert model["version"] == model_home.weak and model["holdout_metrics"] is None
                assert model["promotion"]["previous_version"] == model_home.strong
            time.sleep(0.3)  # a few answers from the version every worker now serves
    finally:
        stop.set()
        for thread in clients:
            thread.join(70)

    for answers in answers_per_client:
        assert answers and all(status == 200 for _, status, _ in answers), {a[1] for a in answers}
        # Workers swap on their own clocks, so during a swap answers may alternate; once every
        # worker serves the new version, no answer comes from the old one.
        assert {v for at, _, v in answers if at < moved[0]} == {model_home.strong}
        after_promotion = [v for at, _, v in answers if switched[0] < at < moved[1]]
        after_rollback = [v for at, _, v in answers if at > switched[1]]
        assert set(after_promotion) == {model_home.weak} and set(after_rollback) == {model_home.strong}
    assert client.get("/model").json()["promotion"]["reason"] == "rollback under load"


CLIENT = """
import json, sys, threading
import httpx
url, name, threads, requests = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
sent, failures = {}, []
def send(thread):
    with httpx.Client(base_url=url, timeout=60) as http:
        for number in range(requests):
            texts = [f"{name}/{thread}/{number}/{i}: YOLO for drones" for i in range(1 + number % 3)]
            response = http.post("/predict", json={"texts": texts})
            if response.status_code == 200:
                sent[response.json()["request_id"]] = texts
            else:
                failures.append(response.status_code)
workers = [threading.Thread(target=send, args=(t,)) for t in range(threads)]
[w.start() for w in workers]
[w.join() for w in workers]
print(json.dumps({"sent": sent, "failures": failures}))
"""


def test_requests_from_several_processes_are_each_logged_exactly_once(service, model_home):
    processes, threads, requests = 3, 4, 15
    clients = [
        subprocess.Popen(
            [sys.executable, "-c", CLIENT, service.url, f"client{n}", str(threads), str(requests)],
            stdout=subprocess.PIPE,
            text=True,
        )
        for n in range(processes)
    ]
    sent = {}
    for client_process in clients:
        output, _ = client_process.communicate(timeout=300)
        result = json.loads(output)
        assert result["failures"] == []
        sent.update(result["sent"])
    assert len(sent) == processes * threads * requests

    logged = read_predictions(model_home.settings)
    logged = logged[logged["request_id"].isin(sent)]
    assert len(logged) == sum(len(texts) for texts in sent.values()), "one record per answered text"
    assert (logged.groupby("request_id")["text"].apply(list) == pd_series(sent)).all()
    assert logged["logged_at"].notna().all() and logged["tag"].isin(TAGS).all()
    confidences = logged["probabilities"].map(lambda probabilities: max(json.loads(probabilities).values()))
    assert (logged["confidence"] == confidences).all()


def pd_series(sent: dict):
    import pandas as pd

    return pd.Series(sent).sort_index()


def metric_values(url: str) -> dict[tuple, float]:
    """Every sample of the service's ``/metrics``, keyed by name and sorted labels."""
    families = text_string_to_metric_families(httpx.get(f"{url}/metrics", timeout=10).text)
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in families
        for sample in family.samples
    }


def test_metrics_parse_and_count_what_was_sent(service, model_home):
    before = metric_values(service.url)
    with httpx.Client(base_url=service.url, timeout=30) as http:
        for _ in range(5):
            assert http.post("/predict", json={"texts": [VISION, LANGUAGE]}).status_code == 200
        for _ in range(3):
            assert http.post("/predict", json={"texts": []}).status_code == 422
    after = metric_values(service.url)

    def grew(name, **labels):
        key = (name, tuple(sorted(labels.items())))
        return after.get(key, 0) - before.get(key, 0)

    assert grew("tagifai_requests_total", endpoint="/predict", status="200") == 5
    assert grew("tagifai_requests_total", endpoint="/predict", status="422") == 3
    assert grew("tagifai_request_duration_seconds_count", endpoint="/predict", status="200") == 5
    assert grew("tagifai_request_duration_seconds_bucket", endpoint="/predict", status="200", le="+Inf") == 5
    version = str(model_home.strong)
    assert grew("tagifai_predictions_total", tag="computer-vision", model_version=version) == 5
    assert grew("tagifai_predictions_total", tag="natural-language-processing", model_version=version) == 5
    assert grew("tagifai_refusals_total", reason="invalid") == 3
    assert set(served_versions(service.url).values()) == {model_home.strong}
    assert len(served_versions(service.url)) == WORKERS, "one series per live worker"
