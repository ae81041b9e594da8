"""Request validation and the no-champion answers, on the app in process (no model needed)."""

import warnings
from dataclasses import replace

import pytest

with warnings.catch_warnings():
    warnings.simplefilter("ignore")  # Starlette would like httpx2, which the project does not use
    from fastapi.testclient import TestClient

from tagifai_platform.serving.app import NO_CHAMPION, create_app
from tagifai_platform.serving.schemas import MAX_TEXT_CHARS, max_body_bytes
from tagifai_platform.settings import load_settings
from tagifai_platform_tests.serving.cases import BAD_REQUESTS, MAX_TEXTS


@pytest.fixture(scope="module")
def empty_home(tmp_path_factory):
    return load_settings({"TAGIFAI_HOME": str(tmp_path_factory.mktemp("empty") / "home")})


@pytest.fixture(scope="module")
def client(empty_home):
    with TestClient(create_app(replace(empty_home, serve_refresh_seconds=0.1))) as test_client:
        yield test_client


@pytest.mark.parametrize("case", BAD_REQUESTS)
def test_a_malformed_request_gets_a_4xx_naming_the_problem(client, case):
    request, status, phrase = BAD_REQUESTS[case]
    response = client.post("/predict", **request)
    assert response.status_code == status, response.text
    assert phrase in response.json()["detail"]
    assert len(response.text) < 1000, "the offending value is not echoed back"


def test_a_body_larger_than_any_valid_request_is_refused_before_it_is_read(client):
    response = client.post(
        "/predict", content=b"{}", headers={"content-type": "application/json", "content-length": "9" * 10}
    )
    assert response.status_code == 413
    assert f"the limit is {max_body_bytes(MAX_TEXTS)}" in response.json()["detail"]


def test_the_limits_themselves_are_allowed(client):
    response = client.post("/predict", json={"texts": ["é" * MAX_TEXT_CHARS] * MAX_TEXTS})
    assert response.status_code == 503, "valid, so it reaches the model, of which there is none"


def test_without_a_champion_predict_and_health_say_so(client, empty_home):
    predict = client.post("/predict", json={"texts": ["a text"]})
    assert predict.status_code == 503 and predict.json()["detail"] == NO_CHAMPION
    health = client.get("/health")
    assert health.status_code == 503 and health.json()["detail"] == NO_CHAMPION
    assert health.json()["status"] == "unavailable" and health.json()["model_version"] is None
    assert health.json()["prediction_log"] == "ok"
    assert client.get("/model").status_code == 503
    assert not (empty_home.home / "mlflow").exists(), "looking for a champion creates no MLflow store"
