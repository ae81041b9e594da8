"""``tagifai serve`` as a real process on a home with two model versions."""

import json
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest

from tagifai_platform.serving.model_holder import DEFAULT_REFRESH_SECONDS
from tagifai_platform.serving.prediction_log import read_predictions
from tagifai_platform_tests.serving.cases import BAD_REQUESTS

VISION = (
    "Real-time object detection with YOLO: convolutional networks find bounding boxes in images and video"
)
LANGUAGE = "Fine-tuning BERT transformers for sentiment analysis and named entity recognition on text corpora"
TAGS = {"computer-vision", "natural-language-processing", "mlops", "other"}
# A swap needs one refresh interval plus loading the new version; more than this is a stuck refresh.
PICKUP_SECONDS = DEFAULT_REFRESH_SECONDS + 20


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
    """Send requests back to back until told to stop (or a minute has passed), noting each outcome."""
    deadline = time.monotonic() + 60
    with httpx.Client(base_url=url, timeout=30) as http:
        while not stop.is_set() and time.monotonic() < deadline:
            try:
                response = http.post("/predict", json={"texts": [VISION]})
                answers.append((time.monotonic(), response.status_code, response.json().get("model_version")))
            except httpx.HTTPError as error:
                answers.append((time.monotonic(), repr(error), None))


def wait_for_version(answers: list, version: int, since: float) -> float:
    """Seconds from ``since`` until a client was answered by ``version``."""
    deadline = since + PICKUP_SECONDS
    while time.monotonic() < deadline:
        for at, _, answered_by in list(answers):
            if at > since and answered_by == version:
                return at - since
        time.sleep(0.05)
    pytest.fail(f"version {version} was not served within {PICKUP_SECONDS} s of its promotion")


def test_a_promotion_and_a_rollback_are_picked_up_under_load_without_a_failed_request(
    client, service, model_home
):
    registry = model_home.registry
    stop = threading.Event()
    answers_per_client = [[], []]
    clients = [
        threading.Thread(target=keep_predicting, args=(service.url, stop, answers))
        for answers in answers_per_client
    ]
    for thread in clients:
        thread.start()
    try:
        promoted_at = time.monotonic()
        registry.move_champion(model_home.weak, {"reason": "promotion under load"})
        promotion_pickup = wait_for_version(answers_per_client[0], model_home.weak, promoted_at)
        model = client.get("/model").json()
        assert model["version"] == model_home.weak and model["holdout_metrics"] is None
        assert model["promotion"]["previous_version"] == model_home.strong

        rolled_back_at = time.monotonic()
        registry.move_champion(model_home.strong, {"reason": "rollback under load"})
        rollback_pickup = wait_for_version(answers_per_client[0], model_home.strong, rolled_back_at)
        time.sleep(0.2)  # a few more answers from the restored champion
    finally:
        stop.set()
        for thread in clients:
            thread.join(70)
    print(f"promotion picked up in {promotion_pickup:.2f} s, rollback in {rollback_pickup:.2f} s")

    for answers in answers_per_client:
        assert answers and all(status == 200 for _, status, _ in answers), {a[1] for a in answers}
        served = [version for _, _, version in answers]
        runs = [version for index, version in enumerate(served) if index == 0 or version != served[index - 1]]
        assert runs == [model_home.strong, model_home.weak, model_home.strong], (
            "one swap each way, no flapping"
        )
    assert client.get("/model").json()["promotion"]["reason"] == "rollback under load"


def test_concurrent_requests_are_each_logged_exactly_once(service, model_home):
    threads, requests = 8, 25

    def send(thread: int) -> dict[str, str]:
        sent = {}
        with httpx.Client(base_url=service.url, timeout=30) as http:
            for number in range(requests):
                text = f"{VISION} (client {thread}, request {number})"
                response = http.post("/predict", json={"texts": [text]})
                assert response.status_code == 200, response.text
                sent[response.json()["request_id"]] = text
        return sent

    with ThreadPoolExecutor(threads) as pool:
        sent = {
            request_id: text for part in pool.map(send, range(threads)) for request_id, text in part.items()
        }
    assert len(sent) == threads * requests

    logged = read_predictions(model_home.settings)
    logged = logged[logged["request_id"].isin(sent)]
    assert len(logged) == threads * requests and logged["request_id"].is_unique
    assert (logged["text"] == logged["request_id"].map(sent)).all()
    assert logged["logged_at"].notna().all() and logged["tag"].isin(TAGS).all()
    confidences = logged["probabilities"].map(lambda probabilities: max(json.loads(probabilities).values()))
    assert (logged["confidence"] == confidences).all()
