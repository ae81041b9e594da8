"""Scenarios of the whole loop: serve, send traffic, monitor, and watch the policy engine act."""

import time

import dagster as dg
import httpx
import pandas as pd
import pytest

from tagifai_platform.continual.triggers import monitoring_alerts
from tagifai_platform.ml.model import predict
from tagifai_platform.monitoring.simulate import in_distribution_texts, shifted_texts
from tagifai_platform.registry import CHAMPION, ModelRegistry
from tagifai_platform.serving.prediction_log import PredictionLog, log_path, read_predictions
from tagifai_platform_tests.continual.conftest import chosen_branch, run_job, send, trained_home
from tagifai_platform_tests.models import WEAK_PARAMS, register_model
from tagifai_platform_tests.serving.conftest import Service

RETRAIN = {"ops": {"retrain": {"config": {"n_trials": 2}}}}


def registry_of(settings) -> ModelRegistry:
    return ModelRegistry(settings.mlflow_tracking_uri, settings.mlflow_artifacts)


def alerts_sensor_result(instance, monitor_result):
    """Evaluate the alert sensor on the finished monitoring run, as the daemon would."""
    run = instance.get_run_by_id(monitor_result.run_id)
    success = next(
        event for event in monitor_result.all_events if event.event_type == dg.DagsterEventType.RUN_SUCCESS
    )
    context = dg.build_run_status_sensor_context(
        sensor_name=monitoring_alerts.name, dagster_instance=instance, dagster_run=run, dagster_event=success
    )
    return monitoring_alerts(context)


@pytest.fixture(scope="module")
def drift_home(tmp_path_factory, dataset_dir):
    with trained_home(tmp_path_factory.mktemp("drift"), dataset_dir) as home:
        yield home


def test_without_traffic_the_engine_continues(drift_home):
    settings, instance = drift_home
    assert run_job(settings, instance, "monitor").success
    engine = run_job(settings, instance, "policy_engine")
    assert chosen_branch(engine) == {"continue_monitoring"}
    assert (
        "predictions in the window"
        in engine.output_for_node("update_policy_engine", "continue_monitoring")["reasons"][0]
    )


def test_a_shifted_stream_makes_the_engine_retrain_once_then_inspect(drift_home, holdout, tmp_path):
    settings, instance = drift_home
    service = Service.start(settings, tmp_path)
    try:
        send(service.url, shifted_texts(80, seed=3))
    finally:
        service.stop()

    monitored = run_job(settings, instance, "monitor")
    assert monitored.success
    failed = {check.check_name for check in monitored.get_asset_check_evaluations() if not check.passed}
    assert {"input_drift", "confidence_drift"} <= failed
    request = alerts_sensor_result(instance, monitored)
    assert isinstance(request, dg.RunRequest) and "input_drift" in request.tags["tagifai/failed_checks"]

    # Hysteresis: one drifting window is not enough to act; the drift must persist into the next one.
    waiting = run_job(settings, instance, "policy_engine", RETRAIN)
    assert chosen_branch(waiting) == {"continue_monitoring"}
    registry = registry_of(settings)
    served = registry.by_alias(CHAMPION)
    log = PredictionLog(log_path(settings))
    log.append("next-window", served.version, predict(registry.load(served), shifted_texts(40, seed=5)))
    log.close()
    assert run_job(settings, instance, "monitor").success

    # Annotators label the new-topic requests: they are projects the model has no class for.
    annotated = read_predictions(settings)[["request_id", "logged_at", "text"]].assign(tag="other")
    (settings.home / "labeling" / "annotated").mkdir(parents=True)
    annotated.to_csv(settings.home / "labeling" / "annotated" / "round1.csv", index=False)

    engine = run_job(settings, instance, "policy_engine", RETRAIN)
    assert engine.success
    assert chosen_branch(engine) == {"improve", "compose_retraining_dataset", "retrain"}
    dataset = engine.output_for_node("compose_retraining_dataset")
    assert set(dataset["split"]) == {"train", "validation", "test", "recent_eval"}
    assert dataset["text"].isin(annotated["text"]).sum() >= len(annotated.drop_duplicates("text")) - 1
    assert not dataset["id"].isin(holdout["id"].astype(str)).any(), "the holdout stays frozen"
    decision = engine.output_for_node("update_policy_engine", "improve")
    assert decision["action"] == "improve" and any("drift" in reason for reason in decision["reasons"])
    outcome = engine.output_for_node("retrain")
    assert outcome["version"] == 2 and outcome["recent_eval"]["num_samples"] > 0
    champion = registry_of(settings).by_alias(CHAMPION)
    if outcome["decision"]["promote"]:
        assert champion.version == 2 and champion.promotion["dagster_run_id"] == engine.run_id
    else:
        assert champion.version == 1 and outcome["regression_report"].endswith(".md")

    # More traffic nobody has labeled yet, then the same drift episode again: the cooldown turns a
    # second retraining into an inspection, which queues the new requests for annotation.
    registry = registry_of(settings)
    served = registry.by_alias(CHAMPION)
    texts = shifted_texts(30, seed=11)
    log = PredictionLog(log_path(settings))
    log.append("after-retrain", served.version, predict(registry.load(served), texts))
    log.close()
    again = run_job(settings, instance, "policy_engine", RETRAIN)
    assert chosen_branch(again) == {"inspect"}
    inspection = again.output_for_node("inspect")
    queue = pd.read_csv(inspection["queue"])
    assert 0 < len(queue) <= len(set(texts)) and set(queue["text"]) <= set(texts)
    assert queue["tag"].isna().all() and queue["confidence"].is_monotonic_increasing


def test_a_champion_worse_than_its_predecessor_is_rolled_back(
    tmp_path_factory, dataset_dir, labeled, tmp_path
):
    with trained_home(tmp_path_factory.mktemp("rollback"), dataset_dir) as (settings, instance):
        rolls_back_a_weak_champion(settings, instance, labeled, tmp_path)


def rolls_back_a_weak_champion(settings, instance, labeled, tmp_path):
    weak = register_model(settings, labeled, WEAK_PARAMS, champion=True)
    service = Service.start(settings, tmp_path)
    try:
        # Projects whose true tags are known: live performance can be measured.
        send(service.url, in_distribution_texts(labeled, 120, seed=5))
        monitored = run_job(settings, instance, "monitor")
        assert monitored.success
        report = monitored.output_for_node("monitoring_report")["report"]
        assert report["performance"]["labeled_rows"] >= 100 and report["model_versions"] == {str(weak): 120}

        engine = run_job(settings, instance, "policy_engine")
        assert chosen_branch(engine) == {"rollback"}
        champion = registry_of(settings).by_alias(CHAMPION)
        assert champion.version == 1 and champion.promotion["action"] == "rollback"
        assert champion.promotion["previous_version"] == weak

        deadline = time.monotonic() + 30
        while httpx.get(f"{service.url}/model", timeout=10).json()["version"] != 1:
            assert time.monotonic() < deadline, "the service did not pick up the rollback"
            time.sleep(0.5)
    finally:
        service.stop()


def test_the_loop_is_wired_for_the_daemon():
    from tagifai_platform.definitions import defs

    schedule = defs.resolve_schedule_def("monitoring_schedule")
    assert schedule.job_name == "monitor" and schedule.default_status == dg.DefaultScheduleStatus.RUNNING
    assert monitoring_alerts.default_status == dg.DefaultSensorStatus.RUNNING
