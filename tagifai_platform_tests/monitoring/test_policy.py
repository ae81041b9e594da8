"""The policy's decision table, its cooldowns and the rollback target, on hand-made reports."""

import json
from datetime import UTC, datetime, timedelta

import pytest

from tagifai_platform.monitoring.drift import (
    Alert,
    LivePerformance,
    MonitoringReport,
    MonitoringThresholds,
    monitor,
)
from tagifai_platform.monitoring.policy import (
    Action,
    ChampionContext,
    PolicyDecision,
    PolicySettings,
    decide,
)
from tagifai_platform.monitoring.simulate import prediction_rows, shifted_texts
from tagifai_platform_tests.monitoring.conftest import T0

NOW = datetime(2024, 6, 1, 12, 0, tzinfo=UTC)
CHAMPION = ChampionContext(
    version="2", previous_version="1", previous_holdout_f1=0.88, previous_live_f1=0.9, previous_live_labels=50
)
# The rules other than hysteresis, decided as if every drifting window had persisted long enough.
AT_ONCE = PolicySettings(drift_persistence=1)
METRIC_OF = {
    "input": "oov_rate",
    "prediction": "class_mix",
    "confidence": "confidence",
    "estimated_performance": "estimated_f1",
    "performance": "live_f1",
}


def report(*families, size=200, f1=None, labeled=0, versions=None, window_start=None, window_end=None):
    """A report with one alert per family in ``families`` and live F1 ``f1`` on ``labeled`` rows."""
    thresholds = MonitoringThresholds()
    return MonitoringReport(
        window_size=size,
        enough_data=size >= thresholds.min_window_size,
        model_versions=versions or {"2": size},
        window_start=window_start,
        window_end=window_end,
        input=None,
        prediction=None,
        confidence=None,
        performance=LivePerformance(
            labeled_rows=labeled,
            enough_labels=labeled >= thresholds.min_labeled_rows,
            f1=f1,
            accuracy=f1,
        ),
        alerts=tuple(Alert(METRIC_OF[family], family, 0.5, 0.1, f"{family} alert") for family in families),
        thresholds=thresholds,
    )


def earlier(action, days_ago):
    return PolicyDecision(Action(action), NOW - timedelta(days=days_ago), ("earlier",), "2")


FIRST = ChampionContext(version="2")  # no predecessor to roll back to
LOW = {"f1": 0.6, "labeled": 50}  # below the 0.75 floor
WORSE = {"f1": 0.8, "labeled": 50}  # 0.10 below the predecessor's live F1, above the floor


@pytest.mark.parametrize(
    ("monitoring", "history", "champion", "expected"),
    [
        pytest.param(report(), [], CHAMPION, Action.CONTINUE, id="quiet"),
        pytest.param(report(f1=0.9, labeled=50), [], CHAMPION, Action.CONTINUE, id="good-live-f1"),
        pytest.param(
            report("input", "confidence", "performance", size=10, **LOW),
            [],
            CHAMPION,
            Action.CONTINUE,
            id="small-window-every-alarm",
        ),
        pytest.param(report("input"), [], CHAMPION, Action.INSPECT, id="input-alert"),
        pytest.param(report("prediction"), [], CHAMPION, Action.INSPECT, id="prediction-alert"),
        pytest.param(report("confidence"), [], CHAMPION, Action.INSPECT, id="confidence-alert"),
        pytest.param(report("input", "confidence"), [], CHAMPION, Action.IMPROVE, id="strong-drift"),
        pytest.param(
            report("input", "prediction", "confidence"), [], CHAMPION, Action.IMPROVE, id="all-drift-families"
        ),
        pytest.param(report("performance", **LOW), [], FIRST, Action.IMPROVE, id="below-floor"),
        pytest.param(
            report("input", "prediction"),
            [earlier("improve", 2)],
            CHAMPION,
            Action.INSPECT,
            id="strong-drift-improved-2-days-ago",
        ),
        pytest.param(
            report("input", "prediction"),
            [earlier("improve", 8)],
            CHAMPION,
            Action.IMPROVE,
            id="strong-drift-improved-8-days-ago",
        ),
        pytest.param(
            report("performance", **LOW),
            [earlier("improve", 1)],
            FIRST,
            Action.INSPECT,
            id="below-floor-improved-yesterday",
        ),
        pytest.param(
            report("input", "prediction"),
            [earlier("inspect", 1), earlier("rollback", 1)],
            CHAMPION,
            Action.IMPROVE,
            id="strong-drift-other-actions-before",
        ),
        pytest.param(report(**WORSE), [], CHAMPION, Action.ROLLBACK, id="worse-than-predecessor"),
        pytest.param(
            report("input", "confidence", **WORSE), [], CHAMPION, Action.ROLLBACK, id="worse-and-drifting"
        ),
        pytest.param(report("performance", **LOW), [], CHAMPION, Action.ROLLBACK, id="below-floor-and-worse"),
        pytest.param(report(f1=0.87, labeled=50), [], CHAMPION, Action.CONTINUE, id="within-margin"),
        pytest.param(report(f1=0.8, labeled=5), [], CHAMPION, Action.CONTINUE, id="worse-too-few-labels"),
        pytest.param(
            report(**WORSE, versions={"1": 100, "2": 100}),
            [],
            CHAMPION,
            Action.CONTINUE,
            id="worse-in-a-mixed-window",
        ),
        pytest.param(
            report(**WORSE),
            [earlier("rollback", 3)],
            CHAMPION,
            Action.INSPECT,
            id="worse-rolled-back-3-days-ago",
        ),
        pytest.param(
            report(**WORSE),
            [earlier("rollback", 20)],
            CHAMPION,
            Action.ROLLBACK,
            id="worse-rolled-back-long-ago",
        ),
        pytest.param(
            report("performance", **LOW),
            [earlier("rollback", 3)],
            CHAMPION,
            Action.IMPROVE,
            id="below-floor-rolled-back-3-days-ago",
        ),
    ],
)
def test_decision_table(monitoring, history, champion, expected):
    decision = decide(monitoring, history, now=NOW, champion=champion, settings=AT_ONCE)

    assert decision.action == expected, decision.reasons
    assert decision.at == NOW and decision.model_version == "2" and decision.reasons
    assert (decision.target_version is not None) == (expected == Action.ROLLBACK)


def test_rollback_targets_the_previous_champion_and_says_why():
    decision = decide(report(**WORSE), [], now=NOW, champion=CHAMPION)

    assert decision.action == Action.ROLLBACK and decision.target_version == "1"
    assert "0.80" in decision.reasons[0] and "live F1 0.90" in decision.reasons[0]


def test_without_a_predecessor_a_bad_champion_is_improved_not_rolled_back():
    decision = decide(report("performance", **LOW), [], now=NOW, champion=FIRST)

    assert decision.action == Action.IMPROVE and decision.target_version is None


def test_the_predecessor_holdout_f1_stands_in_for_its_unknown_live_f1():
    champion = ChampionContext(version="2", previous_version="1", previous_holdout_f1=0.88)

    worse = decide(report(f1=0.82, labeled=50), [], now=NOW, champion=champion)
    close = decide(report(f1=0.85, labeled=50), [], now=NOW, champion=champion)

    assert worse.action == Action.ROLLBACK and "holdout F1 0.88" in worse.reasons[0]
    assert close.action == Action.CONTINUE


def test_cooldowns_come_from_the_settings():
    strong = report("input", "confidence")
    history = [earlier("improve", 2)]
    short = PolicySettings(improve_cooldown=timedelta(days=1), drift_persistence=1)

    assert decide(strong, history, now=NOW, champion=CHAMPION, settings=AT_ONCE).action == Action.INSPECT
    assert decide(strong, history, now=NOW, champion=CHAMPION, settings=short).action == Action.IMPROVE
    held_back = decide(strong, history, now=NOW, champion=CHAMPION, settings=AT_ONCE)
    assert any("cooldown" in reason for reason in held_back.reasons)


def test_one_drift_episode_starts_one_retraining():
    """Hourly windows through a week of strong drift: the second improves, the rest ask a human."""
    history = []
    for hour in range(24 * 7):
        now = NOW + timedelta(hours=hour)
        drifting = report("input", "confidence", window_end=now.isoformat())
        history.append(decide(drifting, history, now=now, champion=CHAMPION))

    assert [decision.action for decision in history].count(Action.IMPROVE) == 1
    assert [decision.action for decision in history[:2]] == [Action.CONTINUE, Action.IMPROVE]


def test_strong_drift_needs_as_many_families_as_the_settings_say():
    strict = PolicySettings(strong_drift_families=3)

    decision = decide(report("input", "confidence"), [], now=NOW, champion=CHAMPION, settings=strict)
    assert decision.action == Action.CONTINUE  # one drifting window: hysteresis waits
    strict = PolicySettings(strong_drift_families=3, drift_persistence=1)
    decision = decide(report("input", "confidence"), [], now=NOW, champion=CHAMPION, settings=strict)

    assert decision.action == Action.INSPECT


def test_decisions_survive_a_json_round_trip():
    decision = decide(report(**WORSE), [], now=NOW, champion=CHAMPION)

    assert PolicyDecision.from_dict(json.loads(json.dumps(decision.to_dict()))) == decision


def test_real_traffic_scenarios(reference, model, holdout):
    """Held-out projects leave the champion alone; a stream on a new topic asks for a retrain."""
    champion = ChampionContext(version="1")
    quiet = monitor(reference, prediction_rows(model, holdout["text"], "1", T0), labels=holdout)
    day = timedelta(days=1)
    shifted = monitor(
        reference, prediction_rows(model, shifted_texts(60, seed=0), "1", T0), period=(T0, T0 + day)
    )

    assert decide(quiet, [], now=NOW, champion=champion).action == Action.CONTINUE
    first = decide(shifted, [], now=NOW, champion=champion)
    assert first.action == Action.CONTINUE and set(first.drift_families) >= {"input", "confidence"}
    later_rows = prediction_rows(model, shifted_texts(60, seed=1), "1", T0 + day)
    later = monitor(reference, later_rows, period=(T0 + day, T0 + 2 * day))
    assert decide(later, [first], now=NOW + day, champion=champion).action == Action.IMPROVE
    # Two drifting days with a quiet one between, on which the engine did not run: no persistence.
    after_a_gap = monitor(reference, later_rows, period=(T0 + 2 * day, T0 + 3 * day))
    assert decide(after_a_gap, [first], now=NOW + 2 * day, champion=champion).action == Action.CONTINUE


def test_overlapping_windows_count_once():
    """A 2-hour window monitored hourly: the run of drifting windows counts disjoint ones only."""
    hourly = []
    for hours in range(4):
        at = NOW + timedelta(hours=hours)
        hourly.append(
            (
                report(
                    "input",
                    "confidence",
                    window_start=(at - timedelta(hours=2)).isoformat(),
                    window_end=at.isoformat(),
                ),
                at,
            )
        )
    assert replay(hourly, champion=FIRST, settings=PolicySettings(drift_persistence=2)) == [C, C, R, INS]


def window(hours, *families, **options):
    """A report of the hour-long window ending ``hours`` after ``NOW``, and the time it is decided at."""
    at = NOW + timedelta(hours=hours)
    start = (at - timedelta(hours=1)).isoformat()
    return report(*families, window_start=start, window_end=at.isoformat(), **options), at


def replay(windows, champion=CHAMPION, settings=None):
    """Decide on each (report, time) in turn, remembering every decision as the engine does."""
    history = []
    for monitoring, at in windows:
        history.append(decide(monitoring, history, now=at, champion=champion, settings=settings))
    return [decision.action for decision in history]


C, INS, R, B = Action.CONTINUE, Action.INSPECT, Action.IMPROVE, Action.ROLLBACK


@pytest.mark.parametrize(
    ("families_per_window", "persistence", "expected"),
    [
        pytest.param([("input", "confidence")], 2, [C], id="one-strong-window-waits"),
        pytest.param([("input", "confidence")] * 2, 2, [C, R], id="two-strong-windows-improve"),
        pytest.param([("input", "confidence")] * 3, 3, [C, C, R], id="persistence-from-settings"),
        pytest.param(
            [("input", "confidence"), (), ("input", "confidence")], 2, [C, C, C], id="a-quiet-window-resets"
        ),
        pytest.param([("input",), ("input",)], 2, [C, INS], id="one-family-persisting-inspects"),
        pytest.param(
            [("input",), ("input", "confidence")], 2, [C, INS], id="strong-only-in-the-last-window-inspects"
        ),
        pytest.param(
            [("input", "confidence"), ("input",)], 2, [C, INS], id="drift-persisted-but-weak-now-inspects"
        ),
        pytest.param(
            [("confidence", "estimated_performance")] * 2, 2, [C, INS], id="model-side-only-never-improves"
        ),
        pytest.param([("performance",)], 2, [R], id="labels-say-worse-act-at-once"),
        pytest.param([("input", "prediction")] * 4, 2, [C, R, INS, INS], id="cooldown-after-the-retrain"),
    ],
)
def test_hysteresis_table(families_per_window, persistence, expected):
    windows = [
        window(hours, *families, **(LOW if "performance" in families else {}))
        for hours, families in enumerate(families_per_window)
    ]
    settings = PolicySettings(drift_persistence=persistence)
    assert replay(windows, champion=FIRST, settings=settings) == expected


def test_deciding_twice_on_one_window_does_not_count_twice():
    drifting, at = window(0, "input", "confidence")
    first = decide(drifting, [], now=at, champion=CHAMPION)
    again = decide(drifting, [first], now=at + timedelta(minutes=5), champion=CHAMPION)
    assert (first.action, again.action) == (C, C)


def test_a_predecessor_live_f1_on_three_labels_is_no_baseline():
    """Reproduced: 1.00 on 3 labeled requests rolled back a successor scoring 0.93 on 191."""
    champion = ChampionContext(
        version="2",
        previous_version="1",
        previous_holdout_f1=0.93,
        previous_live_f1=1.0,
        previous_live_labels=3,
    )
    decision = decide(report(f1=0.93, labeled=191), [], now=NOW, champion=champion)
    assert decision.action == C
    unknown = ChampionContext(
        version="2", previous_version="1", previous_holdout_f1=0.93, previous_live_f1=1.0
    )
    assert decide(report(f1=0.93, labeled=191), [], now=NOW, champion=unknown).action == C


def test_a_version_rolled_back_from_is_never_a_rollback_target():
    """After v2 -> v1, v1's predecessor in the promotion log is v2: going back there would flap."""
    rolled_back = PolicyDecision(B, NOW - timedelta(days=30), ("v2 worse",), "2", target_version="1")
    restored = ChampionContext(version="1", previous_version="2", previous_holdout_f1=0.95)
    decision = decide(
        report(f1=0.8, labeled=50, versions={"1": 200}), [rolled_back], now=NOW, champion=restored
    )
    assert decision.action != B and decision.target_version is None


def test_a_failed_retraining_spends_no_cooldown():
    failed = PolicyDecision(R, NOW - timedelta(days=1), ("drift",), "2", outcome="failed")
    decision = decide(report("performance", **LOW), [failed], now=NOW, champion=FIRST)
    assert decision.action == R
    done = PolicyDecision(R, NOW - timedelta(days=1), ("drift",), "2")
    assert decide(report("performance", **LOW), [done], now=NOW, champion=FIRST).action == INS
    # The append-only log: the decision, then the same decision again marked failed.
    logged = [done, PolicyDecision(R, done.at, ("compose failed",), "2", outcome="failed")]
    assert decide(report("performance", **LOW), logged, now=NOW, champion=FIRST).action == R


def test_a_drift_retrain_is_not_rolled_back_on_live_f1_from_before_the_drift():
    retrained = ChampionContext(
        version="2",
        previous_version="1",
        previous_live_f1=0.93,
        previous_live_labels=200,
        after_drift_retrain=True,
    )
    assert decide(report(**WORSE), [], now=NOW, champion=retrained).action == C


def test_an_improve_names_where_the_drift_began():
    """The retraining waits for labels of the traffic since then (``compose_and_split``)."""
    windows = [
        window(0),
        window(1, "input"),
        window(2, "input", "confidence"),
        window(3, "input", "confidence"),
    ]
    history = []
    for monitoring, at in windows:
        history.append(decide(monitoring, history, now=at, champion=FIRST))
    assert [d.action for d in history] == [C, C, INS, R]
    assert history[-1].changed_since == windows[1][0].window_start
    assert PolicyDecision.from_dict(history[-1].to_dict()) == history[-1]
