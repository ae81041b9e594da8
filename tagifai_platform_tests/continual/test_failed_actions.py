"""A retraining the engine asked for that fails spends no cooldown: the next alert may ask again.

Reproduced on main before: an annotated file with tags ``computer vision`` / ``NLP`` failed the
retraining, yet the 7-day improve cooldown turned every later alert into a mere inspection.
"""

from datetime import UTC, datetime

import dagster as dg
import mlflow
import pandas as pd

from tagifai_platform.continual.triggers import DECIDED_IN, failed_actions
from tagifai_platform.definitions import build_definitions
from tagifai_platform.harness import evaluate_run_status_sensor
from tagifai_platform.mlops.tracking import DAGSTER_RUN_TAG
from tagifai_platform.monitoring.policy import Action, last_within
from tagifai_platform.registry import EXPERIMENT_NAME
from tagifai_platform.resources import build_resources
from tagifai_platform_tests.continual.conftest import FEW_TRIALS, trained_home


def sensor_on_failure(instance, result, decision_log):
    return evaluate_run_status_sensor(failed_actions, instance, result.run_id, {"decision_log": decision_log})


def retrain(settings, instance, tags):
    config = {
        "ops": {
            **FEW_TRIALS["ops"],
            "training_dataset": {"config": {"retraining": True, "reasons": ["drift"]}},
        }
    }
    job = build_definitions(settings).resolve_job_def("retrain")
    return job.execute_in_process(instance=instance, run_config=config, tags=tags, raise_on_error=False)


def test_a_failed_retraining_is_marked_failed_and_frees_the_cooldown(tmp_path, dataset_dir):
    with trained_home(tmp_path, dataset_dir) as (settings, instance):
        annotated = settings.home / "labeling" / "annotated"
        annotated.mkdir(parents=True)
        pd.DataFrame(
            {
                "request_id": ["r1", "r2"],
                "logged_at": ["2026-01-01T00:00:00+00:00"] * 2,
                "text": ["a new kind of project", "another one"],
                "tag": ["computer vision", "NLP"],
            }
        ).to_csv(annotated / "round1.csv", index=False)
        decision_log = build_resources(settings)["decision_log"]
        now = datetime.now(UTC)
        decision_log.append(
            {"action": "improve", "at": now.isoformat(), "reasons": ["drift"], "dagster_run_id": "engine-run"}
        )
        assert last_within(decision_log.decisions(), Action.IMPROVE, now=now, cooldown=pd.Timedelta("7D"))

        by_hand = retrain(settings, instance, tags={})
        assert not by_hand.success
        # It failed before any MLflow step: its MLflow run is ended as failed, not left running.
        assert mlflow.active_run() is None
        client = build_resources(settings)["model_registry"].registry.client
        runs = client.search_runs(
            [client.get_experiment_by_name(EXPERIMENT_NAME).experiment_id],
            f"tags.{DAGSTER_RUN_TAG} = '{by_hand.run_id}'",
        )
        assert [run.info.status for run in runs] == ["FAILED"]
        assert isinstance(sensor_on_failure(instance, by_hand, decision_log), dg.SkipReason)

        asked = retrain(settings, instance, tags={DECIDED_IN: "engine-run"})
        assert not asked.success
        assert sensor_on_failure(instance, asked, decision_log) is None
        marked = decision_log.records()[-1]
        assert (marked["outcome"], marked["failed_run"]) == ("failed", asked.run_id)
        assert "training_dataset" in marked["failure"], marked["failure"]
        assert (
            last_within(decision_log.decisions(), Action.IMPROVE, now=now, cooldown=pd.Timedelta("7D"))
            is None
        )

        # Evaluated again (a daemon restart), the sensor does not mark it twice.
        assert isinstance(sensor_on_failure(instance, asked, decision_log), dg.SkipReason)
        assert len(decision_log.records()) == 2
