"""Scenarios of the whole loop: serve, send traffic, monitor, and watch the policy engine act.

After each change to the model in service (a promotion, a retraining, an automatic and a manual
rollback), the Dagster instance is read as the UI reads it: its latest ``champion_model``
materialization must name the version the registry's alias and the running service name, and lead
to the training set that version learned from.
"""

import os
import time

import dagster as dg
import httpx
import pandas as pd
import pytest

from tagifai_platform.continual.triggers import monitoring_alerts, policy_actions
from tagifai_platform.harness import WEAK_PARAMS, Service, evaluate_run_status_sensor, register_model
from tagifai_platform.ml.model import predict
from tagifai_platform.monitoring.simulate import in_distribution_texts, shifted_texts
from tagifai_platform.registry import CHAMPION, TRAINING_IDS, ModelRegistry
from tagifai_platform.serving.prediction_log import PredictionLog, log_path, read_predictions
from tagifai_platform_tests.continual.conftest import (
    chosen_branch,
    home_settings,
    run_job,
    send,
    trained_home,
)
from tagifai_platform_tests.e2e.conftest import run

FEW_TRIALS = {"best_hyperparameters": {"config": {"n_trials": 2}}}


def registry_of(settings) -> ModelRegistry:
    return ModelRegistry(settings.mlflow_tracking_uri, settings.mlflow_artifacts)


def latest(instance, asset: str) -> tuple[str, dict]:
    """The run and the metadata of the asset's latest materialization, as the UI shows them."""
    event = instance.get_latest_materialization_event(dg.AssetKey(asset))
    metadata = {key: entry.value for key, entry in event.asset_materialization.metadata.items()}
    return event.run_id, metadata


def sensor_request(sensor, instance, result: dg.ExecuteInProcessResult):
    return evaluate_run_status_sensor(sensor, instance, result.run_id)


def assert_the_catalog_is_true(settings, instance, service: Service | None = None) -> dict:
    """The latest champion_model names the serving version, and its training set's run."""
    champion = registry_of(settings).by_alias(CHAMPION)
    _, metadata = latest(instance, "champion_model")
    assert metadata["version"] == champion.version
    trained_in = metadata["trained_in_run"]
    assert metadata["training_dataset_version"] == trained_in, "the training set was written by its run"
    written = instance.get_records_for_run(trained_in, of_type=dg.DagsterEventType.ASSET_MATERIALIZATION)
    assets = {record.event_log_entry.dagster_event.asset_key.to_user_string() for record in written.records}
    assert {"training_dataset", "challenger_model"} <= assets
    if service is not None:
        deadline = time.monotonic() + 30
        while httpx.get(f"{service.url}/model", timeout=10).json()["version"] != champion.version:
            assert time.monotonic() < deadline, "the service did not follow the champion"
            time.sleep(0.5)
    return metadata


@pytest.fixture(scope="module")
def drift_home(tmp_path_factory, dataset_dir):
    with trained_home(tmp_path_factory.mktemp("drift"), dataset_dir) as home:
        yield home


def test_after_a_promotion_the_catalog_names_the_serving_version(drift_home):
    settings, instance = drift_home
    metadata = assert_the_catalog_is_true(settings, instance)
    assert metadata["action"] == "promote" and metadata["version"] == 1


def test_without_traffic_the_engine_monitors_and_continues(drift_home):
    settings, instance = drift_home
    engine = run_job(settings, instance, "policy_engine")  # no monitoring run before it
    assert engine.success and chosen_branch(engine) == {"continue_monitoring"}
    decision = engine.output_for_node("update_policy_engine", "continue_monitoring")
    assert "predictions in the window" in decision["reasons"][0]
    assert isinstance(sensor_request(policy_actions, instance, engine), dg.SkipReason)


def test_a_shifted_stream_retrains_through_the_model_assets_then_inspects(drift_home, holdout, tmp_path):
    settings, instance = drift_home
    service = Service.start(settings, tmp_path)
    try:
        send(service.url, shifted_texts(80, seed=3))
        monitored = run_job(settings, instance, "monitor")
        assert monitored.success
        failed = {check.check_name for check in monitored.get_asset_check_evaluations() if not check.passed}
        assert {"input_drift", "confidence_drift"} <= failed
        alert = sensor_request(monitoring_alerts, instance, monitored)
        assert isinstance(alert, dg.RunRequest) and "input_drift" in alert.tags["tagifai/failed_checks"]

        # Hysteresis: drift alone waits for a second window (hours later: unit-tested and replayed).
        waiting = run_job(settings, instance, "policy_engine", alert.run_config)
        assert chosen_branch(waiting) == {"continue_monitoring"}
        assert (
            "drift in 1 of the 2 consecutive windows"
            in waiting.output_for_node("update_policy_engine", "continue_monitoring")["reasons"][-1]
        )

        # Annotators label the new-topic requests: they are projects the model has no class for.
        send(service.url, shifted_texts(40, seed=5))
        annotated = read_predictions(settings)[["request_id", "logged_at", "text"]].assign(tag="other")
        (settings.home / "labeling" / "annotated").mkdir(parents=True)
        annotated.to_csv(settings.home / "labeling" / "annotated" / "round1.csv", index=False)
        monitored = run_job(settings, instance, "monitor")
        alert = sensor_request(monitoring_alerts, instance, monitored)
        assert isinstance(alert, dg.RunRequest) and "live_performance" in alert.tags["tagifai/failed_checks"]

        # The engine decides on the report of the run that raised the alert: labels say worse, act now.
        engine = run_job(settings, instance, "policy_engine", alert.run_config)
        assert engine.success and chosen_branch(engine) == {"improve"}
        assert engine.output_for_node("monitoring")["report_from"] == f"monitoring run {monitored.run_id}"
        decision = engine.output_for_node("update_policy_engine", "improve")
        assert any("live weighted F1" in reason for reason in decision["reasons"])
        assert decision["changed_since"] is not None, "the retraining counts labels since the drift began"
        request = sensor_request(policy_actions, instance, engine)
        assert isinstance(request, dg.RunRequest) and request.job_name == "retrain"

        config = {"ops": {**request.run_config["ops"], **FEW_TRIALS}}
        retrain = run_job(settings, instance, "retrain", config)
        promoted = retrain.output_for_node("evaluate_challenger", "model_evaluation")["decision"]["promote"]
        assert retrain.success == promoted, "a refused challenger fails the gate's blocking check"
        run_id, training = latest(instance, "training_dataset")
        assert run_id == retrain.run_id and training["retraining_from"] == 1
        assert (
            training["composition"]["added_since_change"] >= 20 and "live weighted F1" in training["reasons"]
        )
        dataset = retrain.output_for_node("training_dataset")
        assert set(dataset["split"]) == {"train", "validation", "test", "recent_eval"}
        assert not dataset["id"].isin(holdout["id"].astype(int)).any(), "the holdout stays frozen"
        assert dataset["text"].isin(annotated["text"]).sum() >= len(annotated.drop_duplicates("text")) - 1
        _, evaluation = latest(instance, "model_evaluation")
        assert evaluation["recent_eval_f1"] is not None
        # The version remembers every row it saw, so the next retraining counts none of them as new.
        challenger = registry_of(settings).get(2)
        assert set(dataset["id"]) == set(registry_of(settings).document(challenger, TRAINING_IDS))

        champion_run, _ = latest(instance, "champion_model")
        assert (champion_run == retrain.run_id) == promoted, "the champion moves only through the gate"
        metadata = assert_the_catalog_is_true(settings, instance, service)
        assert metadata["version"] == (2 if promoted else 1)

        # Monitoring now judges the serving version against its own reference.
        assert run_job(settings, instance, "monitor").success
        _, report = latest(instance, "monitoring_report")
        assert report["champion_version"] == metadata["version"]
    finally:
        service.stop()

    # More traffic nobody has labeled yet, then the same drift episode again: the cooldown turns a
    # second retraining into an inspection, which queues the new requests for annotation.
    registry = registry_of(settings)
    served = registry.by_alias(CHAMPION)
    texts = shifted_texts(30, seed=11)
    log = PredictionLog(log_path(settings))
    log.append("after-retrain", served.version, predict(registry.load(served), texts))
    log.close()
    again = run_job(settings, instance, "policy_engine")
    assert chosen_branch(again) == {"inspect"}
    queue = pd.read_csv(again.output_for_node("inspect")["queue"])
    assert 0 < len(queue) <= len(set(texts)) and set(queue["text"]) <= set(texts)
    assert queue["tag"].isna().all() and queue["confidence"].is_monotonic_increasing


def pin(settings, instance, version: int, reason: str) -> dg.ExecuteInProcessResult:
    config = {"action": "pin", "version": version, "reasons": [reason]}
    return run_job(settings, instance, "set_champion", {"ops": {"champion_model": {"config": config}}})


def test_a_worse_champion_is_rolled_back_by_the_engine_and_by_hand(
    tmp_path_factory, dataset_dir, labeled, tmp_path
):
    with trained_home(tmp_path_factory.mktemp("rollback"), dataset_dir) as (settings, instance):
        weak = register_model(settings, labeled, WEAK_PARAMS)
        assert pin(settings, instance, weak, "a hasty promotion").success
        service = Service.start(settings, tmp_path)
        try:
            assert_the_catalog_is_true_for_a_pin(settings, instance, weak)
            # Projects whose true tags are known: live performance can be measured, once their labels
            # had time to arrive. Under a 48 h label delay, requests just served count none yet.
            send(service.url, in_distribution_texts(labeled, 120, seed=5))
            waiting = home_settings(settings.home.parent, dataset_dir, TAGIFAI_LABEL_DELAY_HOURS="48")
            early = run_job(waiting, instance, "monitor").output_for_node("monitoring_report")["report"]
            assert early["performance"]["labeled_rows"] == early["performance"]["matured_rows"] == 0
            assert early["window_size"] == 120 and "performance" not in {a["family"] for a in early["alerts"]}
            monitored = run_job(settings, instance, "monitor")
            report = monitored.output_for_node("monitoring_report")["report"]
            assert report["performance"]["labeled_rows"] >= 100 and report["model_versions"] == {
                str(weak): 120
            }

            engine = run_job(settings, instance, "policy_engine")
            assert chosen_branch(engine) == {"rollback"}
            request = sensor_request(policy_actions, instance, engine)
            assert request.job_name == "set_champion"
            rolled = run_job(settings, instance, "set_champion", request.run_config)
            assert rolled.success
            metadata = assert_the_catalog_is_true(settings, instance, service)
            assert (metadata["action"], metadata["version"], metadata["previous_version"]) == (
                "rollback",
                1,
                weak,
            )
            assert "live F1" in metadata["reasons"]

            by_hand(settings, instance, service, weak)
        finally:
            service.stop()


def assert_the_catalog_is_true_for_a_pin(settings, instance, version: int) -> None:
    """A version registered outside the pipeline has no training run in the catalog to lead to."""
    _, metadata = latest(instance, "champion_model")
    assert (metadata["action"], metadata["version"]) == ("pin", version)
    assert registry_of(settings).by_alias(CHAMPION).version == version


def by_hand(settings, instance, service, weak: int) -> None:
    """`tagifai rollback` as a person types it: refused where it would flap, else a materialization."""
    env = {**os.environ, "TAGIFAI_HOME": str(settings.home), "DAGSTER_HOME": str(instance.root_directory)}
    refused = run(["tagifai", "rollback"], env, cwd=settings.home)
    assert refused.returncode == 1 and refused.stderr.startswith("tagifai: v1 is itself a rollback (from v")
    assert registry_of(settings).by_alias(CHAMPION).version == 1

    pinned = run(
        ["tagifai", "rollback", "--pin", "--to", str(weak), "--reason", "try it again"], env, settings.home
    )
    assert pinned.returncode == 0, pinned.stderr
    assert_the_catalog_is_true_for_a_pin(settings, instance, weak)
    back = run(["tagifai", "rollback"], env, cwd=settings.home)
    assert back.returncode == 0, back.stderr
    metadata = assert_the_catalog_is_true(settings, instance, service)
    assert (metadata["action"], metadata["version"], metadata["previous_version"]) == ("rollback", 1, weak)

    unknown = run(["tagifai", "rollback", "--to", "99"], env, cwd=settings.home)
    assert unknown.returncode == 1 and unknown.stderr.startswith("tagifai: There is no version 99")


def test_the_loop_is_wired_for_the_daemon():
    from tagifai_platform.definitions import defs

    schedule = defs.resolve_schedule_def("monitoring_schedule")
    assert schedule.job_name == "monitor" and schedule.default_status == dg.DefaultScheduleStatus.RUNNING
    for sensor in (monitoring_alerts, policy_actions):
        assert sensor.default_status == dg.DefaultSensorStatus.RUNNING
    assert {target.job_name for target in policy_actions.targets} == {"retrain", "set_champion"}
