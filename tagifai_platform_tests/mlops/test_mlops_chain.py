"""The MLOps chain in a temporary instance: tune, train, register, evaluate, gate, promote or report."""

import dataclasses
import json
from pathlib import Path

import dagster as dg
import pytest

from tagifai_platform.definitions import build_definitions
from tagifai_platform.harness import WEAK_PARAMS, register_model
from tagifai_platform.registry import CHALLENGER, CHAMPION, ModelRegistry
from tagifai_platform_tests.conftest import dagster_instance
from tagifai_platform_tests.dataops.conftest import check_results

TRIALS = {"ops": {"best_hyperparameters": {"config": {"n_trials": 3}}}}


def run_end_to_end(settings, instance) -> dg.ExecuteInProcessResult:
    job = build_definitions(settings).resolve_job_def("end_to_end")
    return job.execute_in_process(instance=instance, run_config=TRIALS, raise_on_error=False)


def registry_of(settings) -> ModelRegistry:
    return ModelRegistry(settings.mlflow_tracking_uri, settings.mlflow_artifacts)


@pytest.fixture(scope="module")
def first_run(tmp_path_factory, dataset_dir):
    """One end-to-end run on a fresh home, shared by the tests that only read what it made."""
    from tagifai_platform.settings import load_settings

    root = tmp_path_factory.mktemp("mlops")
    settings = load_settings({"TAGIFAI_HOME": str(root / "home"), "TAGIFAI_SOURCE": str(dataset_dir)})
    with dagster_instance(root / "dagster") as instance:
        result = run_end_to_end(settings, instance)
        yield settings, instance, result


def test_the_first_model_is_trained_registered_and_promoted(first_run):
    settings, instance, result = first_run
    assert result.success
    registry = registry_of(settings)
    champion = registry.by_alias(CHAMPION)
    assert champion is not None and champion.version == 1 == registry.by_alias(CHALLENGER).version
    assert champion.holdout_metrics["f1"] >= settings.quality_floor
    assert champion.promotion["previous_version"] is None and champion.promotion["action"] == "promote"
    for tag in ("dagster_run_id", "data_fingerprint", "params", "code_version", "threshold"):
        assert tag in champion.tags
    assert champion.tags["dagster_run_id"] == result.run_id
    assert check_results(result)["challenger_beats_champion"].passed
    records = settings.records_dir
    assert (records / "champion_model.json").exists() and not (records / "regression_report.md").exists()


def test_every_trial_and_the_model_are_tracked_in_mlflow(first_run):
    settings, _, result = first_run
    import mlflow

    client = mlflow.MlflowClient(tracking_uri=settings.mlflow_tracking_uri)
    experiment = client.get_experiment_by_name("tagifai")
    assert experiment.artifact_location.startswith(Path(settings.mlflow_artifacts).as_uri())
    runs = client.search_runs([experiment.experiment_id])
    parent = [
        run
        for run in runs
        if run.data.tags.get("dagster_run_id") == result.run_id and "mlflow.parentRunId" not in run.data.tags
    ]
    trials = [run for run in runs if run.data.tags.get("mlflow.parentRunId") == parent[0].info.run_id]
    assert len(parent) == 1 and parent[0].info.status == "FINISHED"
    assert len(trials) == 3 and all(
        "validation_f1" in trial.data.metrics or trial.data.tags["optuna_state"] == "PRUNED"
        for trial in trials
    )
    assert {"holdout_f1", "test_f1", "validation_f1"} <= set(parent[0].data.metrics)


def test_evaluation_metadata_and_record(first_run):
    settings, instance, _ = first_run
    evaluation = json.loads((settings.records_dir / "model_evaluation.json").read_text())
    assert set(evaluation["scores"]) == {"test", "holdout"}
    holdout = evaluation["scores"]["holdout"]
    assert set(holdout["per_class"]) == {"computer-vision", "natural-language-processing", "mlops", "other"}
    assert holdout["slices"] and evaluation["behavioural"]
    metadata = instance.get_latest_materialization_event(
        dg.AssetKey("model_evaluation")
    ).asset_materialization.metadata
    assert {"holdout_f1", "per_class", "confusion_matrix", "behavioural_tests"} <= set(metadata)
    assert (settings.reports_dir / "confusion_matrix_v1.png").read_bytes().startswith(b"\x89PNG")


def test_a_challenger_that_does_not_win_is_refused_and_reported(first_run):
    settings, instance, _ = first_run
    strict = dataclasses.replace(settings, promotion_margin=0.5)
    result = run_end_to_end(strict, instance)

    assert not result.success, "the failed gate fails the run"
    assert not check_results(result)["challenger_beats_champion"].passed
    registry = registry_of(settings)
    assert registry.by_alias(CHAMPION).version == 1 and registry.by_alias(CHALLENGER).version == 2
    report = (settings.records_dir / "regression_report.md").read_text()
    assert "| f1" in report or "f1" in report
    assert result.output_for_node("evaluate_challenger", "regression_report")
    materialized = {event.asset_key.to_user_string() for event in result.get_asset_materialization_events()}
    assert "champion_model" not in materialized

    # The study persisted: this run continued it rather than starting over.
    hyper = instance.get_latest_materialization_event(
        dg.AssetKey("best_hyperparameters")
    ).asset_materialization.metadata
    assert hyper["trials_before"].value == 3 and hyper["trials_total"].value == 6


def test_a_better_challenger_is_promoted_and_the_move_recorded(first_run, labeled):
    settings, instance, _ = first_run
    weak = register_model(settings, labeled, WEAK_PARAMS, champion=True)
    assert weak == 3

    result = run_end_to_end(settings, instance)
    assert result.success
    champion = registry_of(settings).by_alias(CHAMPION)
    assert champion.version == 4 and champion.promotion["previous_version"] == weak
    before, after = champion.promotion["metrics_before"], champion.promotion["metrics_after"]
    assert after["f1"] > before["f1"] and champion.promotion["dagster_run_id"] == result.run_id
