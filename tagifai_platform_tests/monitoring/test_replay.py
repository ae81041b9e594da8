"""The replay benchmark's small version: the policy's targets on short synthetic streams."""

from datetime import timedelta

import pytest

from tagifai_platform.monitoring.replay import ReplayConfig, Scenario, World, run_scenario, sudden

# Windows of 60 requests, not 100: a retraining waits for 90 labels since the change, not 150.
SMALL = ReplayConfig(window_size=60, folds=3, estimate_samples=200, gate_resamples=300, min_new_labels=90)


@pytest.fixture(scope="module")
def world(labeled, holdout):
    return World(labeled, holdout, SMALL)


def test_stable_traffic_is_left_alone(world):
    figures = run_scenario(world, Scenario("stable", 12))
    assert figures["retrains"] == figures["rollbacks"] == 0
    assert figures["alerting_windows"] <= 2, figures["alerts_by_family"]


def test_a_sudden_shift_is_retrained_once_and_recovers(world):
    """Reproduced: the first retrain, on one day of labels and none of them of the new topic (the
    newest rows were all held out as ``recent_eval``), was promoted without learning it."""
    figures = run_scenario(world, Scenario("sudden_shift", 12, change_at=3, shift_share=sudden(3, 0.5)))
    assert figures["windows_to_first_action"] <= 2 and figures["retrains"] == figures["promotions"] == 1
    assert figures["failed_improves"] <= 2, "waited for labels of the new topic, spending no cooldown"
    assert figures["live_f1_after"] >= figures["live_f1_before"] - 0.02


def test_a_worse_champion_is_rolled_back_without_flapping(world):
    figures = run_scenario(world, Scenario("worse_champion", 8, change_at=3, worse_champion_at=3))
    assert figures["rollbacks"] == 1 and figures["labeled_windows_to_rollback"] <= 2
    assert figures["versions_served_in_order"] == ["1", "2", "1"] and not figures["flapping"]


def test_late_labels_alone_raise_no_performance_alert(world):
    late = Scenario("late_labels", 4, label_delay=timedelta(hours=40), hard_first=True, label_coverage=1.0)
    assert run_scenario(world, late)["performance_alerts"] == 0
