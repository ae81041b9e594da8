"""Replaying synthetic traffic through monitoring and the policy with a simulated clock.

Whether the policy retrains on traffic that has not changed, how fast it reacts when it has, and
whether it undoes a bad promotion cannot be told from one scenario test; they are rates over many
windows. This module is the fast path of ``python -m benchmarks.replay``: the plain functions the
Dagster wiring calls (``monitor``, ``decide``, ``compose_and_split``, ``decide_promotion``), a
window of synthetic requests at a time, and the model lifecycle kept in memory instead of MLflow.

The world: the champion learns from part of the real labeled projects; traffic is recombined
(:func:`~tagifai_platform.data.synthetic.synthesize`) from the *other* part, texts no model
learned from, so that normal traffic looks like the unseen texts of the honest reference. A shift
rewrites part of each shifted description in a new topic's vocabulary and tags it ``other``, the
class for what the model was never taught. Every request gets its true tag, which reaches the
policy only once its label has arrived (``label_delay`` after the request, or in the order a
scenario says); the oracle F1 of each window, on all its true tags, is what the figures report as
live F1. The frozen holdout judges retrained challengers, never traffic.
"""

from __future__ import annotations

import json
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import pandas as pd
from sklearn.metrics import f1_score

from tagifai_platform.data.synthetic import Shift, synthesize
from tagifai_platform.data.transform import label_projects
from tagifai_platform.ml.evaluation import evaluate
from tagifai_platform.ml.gate import compare_models, decide_promotion
from tagifai_platform.ml.model import DEFAULT_PARAMS, TagClassifier, predict, refit, train_model
from tagifai_platform.ml.splits import split_dataset
from tagifai_platform.monitoring.baseline import fit_baseline
from tagifai_platform.monitoring.drift import (
    WINDOW_COLUMNS,
    MonitoringThresholds,
    confidence_of,
    monitor,
)
from tagifai_platform.monitoring.labeling import annotation_id
from tagifai_platform.monitoring.policy import (
    Action,
    ChampionContext,
    PolicyDecision,
    PolicySettings,
    decide,
)
from tagifai_platform.monitoring.retraining import NothingNewError, compose_and_split
from tagifai_platform.settings import Settings

T0 = datetime(2025, 1, 6, tzinfo=UTC)
NO_SHIFT: Callable[[int], float] = lambda window: 0.0  # noqa: E731


@dataclass(frozen=True)
class Scenario:
    """A stream: how many windows, when the change starts, and how labels come back.

    ``shift_share(window)`` is the share of new-topic requests in a window. ``label_delay`` is
    when a request's label arrives; ``hard_first`` makes the least confident requests' labels
    arrive first (annotators work through the queue), spread over ``label_delay``.
    ``worse_champion_at`` promotes, at that window, a model trained on scrambled labels.
    """

    name: str
    windows: int
    change_at: int | None = None
    shift_share: Callable[[int], float] = NO_SHIFT
    label_delay: timedelta = timedelta(hours=36)
    hard_first: bool = False
    worse_champion_at: int | None = None
    label_coverage: float | None = None  # None: the config's


def sudden(at: int, share: float) -> Callable[[int], float]:
    return lambda window: share if window >= at else 0.0


def gradual(start: int, end: int, share: float) -> Callable[[int], float]:
    return lambda window: share * min(max((window - start + 1) / (end - start + 1), 0.0), 1.0)


def scenarios(scale: float = 1.0) -> list[Scenario]:
    """The benchmark's five scenarios; ``scale`` shortens them (the test runs a small version)."""

    def n(windows: int) -> int:
        return max(int(windows * scale), 4)

    change = n(20)
    return [
        Scenario("stable", n(200)),
        Scenario("sudden_shift", change + n(40), change, sudden(change, 0.5)),
        Scenario("gradual_shift", change + n(80), change, gradual(change, change + n(60), 0.6)),
        Scenario("worse_champion", change + n(20), change, worse_champion_at=change),
        Scenario("late_labels", n(40), label_delay=timedelta(hours=40), hard_first=True, label_coverage=1.0),
    ]


@dataclass
class Version:
    """A trained model as the registry and monitoring know it."""

    number: str
    model: TagClassifier
    training: pd.DataFrame
    reference: Any
    calibrator: Any
    holdout_f1: float
    previous: str | None = None
    after_drift_retrain: bool = False


@dataclass(frozen=True)
class ReplayConfig:
    window_size: int = 100
    window: timedelta = timedelta(hours=24)
    label_coverage: float = 0.6  # share of requests that ever get a label
    folds: int = 5
    estimate_samples: int = 500
    gate_resamples: int = 1000
    min_new_labels: int = Settings.min_new_labels
    seed: int = 0
    thresholds: MonitoringThresholds = field(default_factory=MonitoringThresholds)
    policy: PolicySettings = field(default_factory=PolicySettings)


class World:
    """The data every scenario starts from: the served model's projects, traffic sources, the holdout."""

    def __init__(self, labeled: pd.DataFrame, holdout: pd.DataFrame, config: ReplayConfig):
        self.config = config
        split = split_dataset(labeled, seed=config.seed, validation_fraction=0.15, test_fraction=0.3)
        self.known = pd.concat([split.train, split.validation], ignore_index=True)
        self.traffic_source = split.test  # projects no model learns from, recombined into traffic
        self.holdout = holdout
        self.first = self.train("1", self.known, previous=None)

    def train(self, number: str, training: pd.DataFrame, previous: str | None, model=None) -> Version:
        """Train (or take ``model``), then its honest reference and calibrator, as a registered version."""
        if model is None:
            parts = split_dataset(training, seed=self.config.seed)
            model = refit(train_model(DEFAULT_PARAMS, parts.train, parts.validation), training)
        baseline = fit_baseline(
            training,
            model.params,
            model.threshold,
            folds=self.config.folds,
            seed=self.config.seed,
            samples=self.config.estimate_samples,
        )
        holdout_f1 = evaluate(model, self.holdout)["overall"]["f1"]
        return Version(number, model, training, baseline.reference, baseline.calibrator, holdout_f1, previous)

    def worse(self, number: str, previous: str) -> Version:
        """A model trained on labels half scrambled: what a bad promotion puts in service."""
        rng = np.random.default_rng(self.config.seed + 99)
        scrambled = self.known.copy()
        rows = rng.random(len(scrambled)) < 0.5
        scrambled.loc[rows, "tag"] = rng.permutation(scrambled.loc[rows, "tag"].to_numpy())
        model = TagClassifier(DEFAULT_PARAMS, threshold=self.first.model.threshold).fit(
            scrambled["text"], scrambled["tag"]
        )
        return self.train(number, self.known, previous, model=model)

    def traffic(self, window: int, share: float, seed: int) -> pd.DataFrame:
        """One window of requests (labeled frame: ``text``, true ``tag``) at the given new-topic share."""
        source = self.traffic_source
        projects = source[["id", "created_on", "title", "description"]].assign(
            id=source["id"].astype(str), created_on=source["created_on"].astype(str)
        )
        tags = source[["id", "tag"]].assign(id=source["id"].astype(str))
        batch = synthesize(
            projects,
            tags,
            self.config.window_size,
            seed=seed,
            shift=Shift(rows=share, words=0.8, tag="other") if share > 0 else None,
            first_id=10_000_000 + window * self.config.window_size,
        )
        return label_projects(batch.projects, batch.tags)


def served_rows(version: Version, requests: pd.DataFrame, start: datetime, window: timedelta) -> pd.DataFrame:
    """What the prediction log holds for ``requests`` answered by ``version`` through one window."""
    answers = predict(version.model, requests["text"])
    step = window / max(len(requests), 1)
    frame = pd.DataFrame(
        {
            "request_id": [f"{version.number}-{start:%Y%m%d}-{i}" for i in range(len(requests))],
            "logged_at": [start + i * step for i in range(len(requests))],
            "text": requests["text"].to_numpy(),
            "tag": [answer["tag"] for answer in answers],
            "confidence": [confidence_of(answer) for answer in answers],
            "model_version": version.number,
        },
        columns=WINDOW_COLUMNS,
    )
    return frame.assign(
        probabilities=[json.dumps(answer["probabilities"]) for answer in answers],
        true_tag=requests["tag"].to_numpy(),
    )


def label_arrivals(rows: pd.DataFrame, scenario: Scenario, config: ReplayConfig, rng) -> pd.Series:
    """When each request's label arrives (``NaT``: never labeled)."""
    coverage = config.label_coverage if scenario.label_coverage is None else scenario.label_coverage
    labeled = rng.random(len(rows)) < coverage
    seconds = scenario.label_delay.total_seconds()
    if scenario.hard_first:  # least confident first, the last one at the full delay
        seconds = rows["confidence"].rank(method="first").to_numpy() / len(rows) * seconds
    delay = pd.Series(pd.to_timedelta(np.broadcast_to(seconds, len(rows)), unit="s"), index=rows.index)
    return (pd.to_datetime(rows["logged_at"], utc=True) + delay).where(labeled)


def oracle_f1(rows: pd.DataFrame) -> float:
    return float(f1_score(rows["true_tag"], rows["tag"], average="weighted", zero_division=0))


def run_scenario(world: World, scenario: Scenario, *, naive_labels: bool = False) -> dict[str, Any]:
    """Replay ``scenario`` window by window; the figures of the module docstring, and the timeline.

    ``naive_labels`` measures live performance the way main did (every label in, at once, on the
    current window), to show what the label delay prevents.
    """
    config = world.config
    rng = np.random.default_rng([config.seed, zlib.crc32(scenario.name.encode())])
    versions = {"1": world.first}
    champion = world.first
    history: list[PolicyDecision] = []
    live: dict[str, tuple[float, int]] = {}  # version -> its last live F1 on enough labels
    log = []
    timeline = []
    for index in range(scenario.windows):
        start = T0 + index * config.window
        now = start + config.window
        if scenario.worse_champion_at == index:
            worse = world.worse(str(len(versions) + 1), previous=champion.number)
            versions[worse.number] = champion = worse
        share = scenario.shift_share(index)
        rows = served_rows(
            champion, world.traffic(index, share, seed=config.seed * 7919 + index), start, config.window
        )
        rows = rows.assign(label_at=label_arrivals(rows, scenario, config, rng))
        log.append(rows)
        everything = pd.concat(log, ignore_index=True)
        arrived = everything[everything["label_at"] <= pd.Timestamp(now)]
        labels = arrived[["text", "true_tag"]].rename(columns={"true_tag": "tag"})
        if naive_labels:
            report = monitor(champion.reference, rows, config.thresholds, labels=labels)
        else:
            matured_from = now - config.thresholds.label_delay_hours * timedelta(hours=1) - config.window
            earlier = everything[
                (pd.to_datetime(everything["logged_at"]) >= pd.Timestamp(matured_from))
                & (everything["model_version"] == champion.number)
            ]
            report = monitor(
                champion.reference,
                rows,
                config.thresholds,
                labels=labels,
                now=now,
                labeled_window=earlier,
                estimator=champion.calibrator.estimate,
            )
        if report.performance.enough_labels:
            live[champion.number] = (report.performance.f1, report.performance.labeled_rows)
        previous = champion.previous
        baseline = live.get(previous) if previous else None
        context = ChampionContext(
            version=champion.number,
            previous_version=previous,
            previous_holdout_f1=versions[previous].holdout_f1 if previous else None,
            previous_live_f1=baseline[0] if baseline else None,
            previous_live_labels=baseline[1] if baseline else None,
            after_drift_retrain=champion.after_drift_retrain,
        )
        decision = decide(report, history, now=now, champion=context, settings=config.policy)
        outcome = None
        if decision.action == Action.ROLLBACK:
            target = versions[decision.target_version]
            restored = {**target.__dict__, "previous": champion.number, "after_drift_retrain": False}
            versions[target.number] = champion = Version(**restored)
        elif decision.action == Action.IMPROVE:
            outcome = retrain(world, versions, champion, arrived, decision.changed_since)
            if outcome["promoted"]:
                champion = versions[outcome["version"]]
                champion.after_drift_retrain = True
            if outcome.get("failed"):
                decision = PolicyDecision(**{**decision.__dict__, "outcome": "failed"})
        history.append(decision)
        timeline.append(
            {
                "window": index,
                "share": round(share, 3),
                "served_by": rows["model_version"].iloc[0],
                "action": str(decision.action),
                "alerts": sorted(report.alert_families),
                "oracle_f1": round(oracle_f1(rows), 4),
                "live_f1": None if report.performance.f1 is None else round(report.performance.f1, 4),
                "estimated_f1": None if report.estimated is None else round(report.estimated.f1, 4),
                "estimate_error": report.performance.estimate_error,
                "retrain": outcome,
            }
        )
    return {**summarize(scenario, timeline, config), "timeline": timeline}


def retrain(
    world: World, versions: dict, champion: Version, arrived: pd.DataFrame, changed_since: str | None
) -> dict:
    """Compose, train and gate a challenger on the labels arrived so far, as ``policy_engine`` does."""
    config = world.config
    new = pd.DataFrame(
        {
            "id": arrived["text"].map(annotation_id),
            "created_on": pd.to_datetime(arrived["logged_at"]).dt.tz_localize(None),
            "title": arrived["text"],
            "description": "",
            "tag": arrived["true_tag"],
            "text": arrived["text"],
        }
    ).drop_duplicates(subset=["text"], keep="last")
    try:
        stored, composition = compose_and_split(
            champion.training,
            new,
            holdout=world.holdout,
            seed=config.seed,
            min_added=config.min_new_labels,
            changed_since=changed_since,
        )
    except NothingNewError as error:
        return {"promoted": False, "failed": True, "why": str(error)}
    trainable = stored[stored["split"].isin(["train", "validation", "test"])].drop(columns=["split"])
    number = str(len(versions) + 1)
    originals = trainable[trainable["origin"] == "original"]
    parts = {name: part for name, part in stored.groupby("split")}
    candidate = train_model(DEFAULT_PARAMS, parts["train"], parts["validation"])
    model = refit(candidate, trainable)
    challenger = world.train(
        number, originals.drop(columns=["origin", "source", "split_hint"]), champion.number, model
    )
    judged = pd.concat([world.holdout, parts.get("recent_eval", world.holdout.iloc[:0])], ignore_index=True)
    paired = compare_models(
        challenger.model, champion.model, judged, resamples=config.gate_resamples, seed=config.seed
    )
    decision = decide_promotion(
        evaluate(challenger.model, world.holdout),
        evaluate(champion.model, world.holdout),
        margin=0.0,
        slice_tolerance=0.05,
        quality_floor=0.85,
        paired=paired,
        brings_new_data=True,
    )
    versions[number] = challenger
    return {
        "version": number,
        "promoted": decision.promote,
        "rule": decision.rule,
        "paired": {
            key: round(value, 4) if isinstance(value, float) else value
            for key, value in paired.__dict__.items()
        },
        "rows": composition["rows"],
        "added": composition["added"],
    }


def summarize(scenario: Scenario, timeline: list[dict], config: ReplayConfig) -> dict[str, Any]:
    """The figures of one replay: alerts, actions, reaction time, live F1 before / during / after."""
    actions = [entry["action"] for entry in timeline]
    retrains = [entry for entry in timeline if entry["retrain"] and "version" in entry["retrain"]]
    change = scenario.change_at if scenario.change_at is not None else 0
    acted = [
        entry["window"] for entry in timeline if entry["action"] != "continue" and entry["window"] >= change
    ]
    switches = [
        entry["window"]
        for entry in timeline
        if entry["window"] >= change
        and (entry["action"] == "rollback" or (entry["retrain"] or {}).get("promoted"))
    ]
    recovered = switches[-1] + 1 if switches else None  # served by the last model put in after the change

    def mean_f1(entries: list[dict]) -> float | None:
        return round(float(np.mean([entry["oracle_f1"] for entry in entries])), 4) if entries else None

    improve_times = [
        entry["window"]
        for entry in timeline
        if entry["action"] == "improve" and not (entry["retrain"] or {}).get("failed")
    ]
    cooldown_windows = config.policy.improve_cooldown / config.window
    served = [entry["served_by"] for entry in timeline]
    order = [version for i, version in enumerate(served) if i == 0 or served[i - 1] != version]
    figures = {
        "windows": scenario.windows,
        "change_at": scenario.change_at,
        "alerting_windows": sum(bool(entry["alerts"]) for entry in timeline),
        "alerting_share": round(sum(bool(entry["alerts"]) for entry in timeline) / len(timeline), 4),
        "alerts_by_family": pd.Series([f for entry in timeline for f in entry["alerts"]])
        .value_counts()
        .to_dict(),
        "performance_alerts": sum("performance" in entry["alerts"] for entry in timeline),
        "inspections": actions.count("inspect"),
        "retrains": len(retrains),
        "promotions": sum(entry["retrain"]["promoted"] for entry in retrains),
        "failed_improves": sum(
            bool(entry["retrain"] and entry["retrain"].get("failed")) for entry in timeline
        ),
        "rollbacks": actions.count("rollback"),
        "max_retrains_per_cooldown": max(
            (sum(0 <= other - time < cooldown_windows for other in improve_times) for time in improve_times),
            default=0,
        ),
        "versions_served_in_order": order,
        # back and forth twice between the same two versions: A, B, A, B
        "flapping": any(order[i : i + 2] == order[i + 2 : i + 4] for i in range(len(order) - 3)),
        "windows_to_first_action": acted[0] - change + 1
        if acted and scenario.change_at is not None
        else None,
        "first_action": actions[acted[0]] if acted and scenario.change_at is not None else None,
        "live_f1_before": mean_f1(timeline[:change] if scenario.change_at is not None else timeline),
        "live_f1_during": mean_f1(timeline[change:recovered] if scenario.change_at is not None else []),
        "live_f1_after": mean_f1(timeline[recovered:] if recovered is not None else []),
        "gate": [
            {
                "window": entry["window"],
                **{k: entry["retrain"][k] for k in ("version", "promoted", "rule")},
                "interval": [entry["retrain"]["paired"]["low"], entry["retrain"]["paired"]["high"]],
                "delta": entry["retrain"]["paired"]["delta"],
            }
            for entry in retrains
        ],
    }
    errors = [entry["estimate_error"] for entry in timeline if entry["estimate_error"] is not None]
    if errors:
        figures["estimate_minus_realised_f1"] = {
            "mean": round(float(np.mean(errors)), 4),
            "mean_absolute": round(float(np.mean(np.abs(errors))), 4),
            "windows": len(errors),
        }
    if scenario.worse_champion_at is not None:
        labeled = [
            entry["window"]
            for entry in timeline
            if entry["window"] >= scenario.worse_champion_at and entry["live_f1"] is not None
        ]
        rollback = next((entry["window"] for entry in timeline if entry["action"] == "rollback"), None)
        figures["labeled_windows_to_rollback"] = (
            sum(window <= rollback for window in labeled) if rollback is not None else None
        )
    return figures


def detection_limit(
    world: World,
    shares=(0.05, 0.075, 0.1, 0.115, 0.13, 0.145, 0.16, 0.2, 0.3, 0.4),
    trials: int = 20,
) -> float | None:
    """The smallest new-topic share at which half the windows raise a drift alert on the first champion.

    Below it a shift is not measurable in one window of this size: acting there would be acting on
    noise. The grid is fine where the limit lies (a 5-point grid put it at 0.15, a 1.5-point one
    with twice the trials at 0.13).
    """
    champion = world.first
    for share in shares:
        alerting = 0
        for trial in range(trials):
            requests = world.traffic(10_000 + trial, share, seed=50_000 + trial)
            rows = served_rows(champion, requests, T0, world.config.window)
            alerting += bool(monitor(champion.reference, rows, world.config.thresholds).alert_families)
        if alerting >= trials / 2:
            return share
    return None


def replay(
    labeled: pd.DataFrame,
    holdout: pd.DataFrame,
    *,
    scale: float = 1.0,
    config: ReplayConfig | None = None,
    keep_timeline: bool = False,
) -> dict[str, Any]:
    """Every scenario's figures (the benchmark's JSON), with the naive-label run of ``late_labels`` beside."""
    world = World(labeled, holdout, config or ReplayConfig())
    results: dict[str, Any] = {
        "config": {
            "window_size": world.config.window_size,
            "window_hours": world.config.window / timedelta(hours=1),
            "label_coverage": world.config.label_coverage,
            "drift_persistence": world.config.policy.drift_persistence,
            "label_delay_hours": world.config.thresholds.label_delay_hours,
            "improve_cooldown_days": world.config.policy.improve_cooldown / timedelta(days=1),
            "first_champion_holdout_f1": round(world.first.holdout_f1, 4),
        }
    }
    results["gate_on_real_data"] = gate_on_real_data(labeled, holdout, world.config)
    for scenario in scenarios(scale):
        results[scenario.name] = run_scenario(world, scenario)
        if not keep_timeline:
            del results[scenario.name]["timeline"]
        if scenario.name == "late_labels":
            naive = run_scenario(world, scenario, naive_labels=True)
            results[scenario.name]["performance_alerts_without_label_delay"] = naive["performance_alerts"]
        if scenario.name == "gradual_shift":
            limit = detection_limit(world)
            measurable = next(
                (
                    w
                    for w in range(scenario.windows)
                    if limit is not None and scenario.shift_share(w) >= limit
                ),
                None,
            )
            results[scenario.name] |= {"detection_limit_share": limit, "measurable_from_window": measurable}
    return results


def gate_on_real_data(labeled: pd.DataFrame, holdout: pd.DataFrame, config: ReplayConfig) -> dict[str, Any]:
    """The paired gate on the frozen holdout for three challengers of known worth.

    Retraining on unchanged data (the same run again, another SGD seed) can only move F1 by noise
    and must be refused; a model fitted on all the data against one fitted on a quarter of it is
    clearly better and must be promoted.
    """
    champion = TagClassifier(DEFAULT_PARAMS).fit(labeled["text"], labeled["tag"])
    tenth = labeled.sample(frac=0.1, random_state=config.seed)
    cases = {
        "same_data_rerun": (TagClassifier(DEFAULT_PARAMS).fit(labeled["text"], labeled["tag"]), champion),
        "same_data_other_seed": (
            TagClassifier({**DEFAULT_PARAMS, "random_state": 7}).fit(labeled["text"], labeled["tag"]),
            champion,
        ),
        "all_data_vs_a_tenth": (
            champion,
            TagClassifier(DEFAULT_PARAMS).fit(tenth["text"], tenth["tag"]),
        ),
    }
    results = {}
    for name, (challenger, incumbent) in cases.items():
        paired = compare_models(
            challenger, incumbent, holdout, resamples=config.gate_resamples, seed=config.seed
        )
        decision = decide_promotion(
            evaluate(challenger, holdout),
            evaluate(incumbent, holdout),
            margin=0.0,
            slice_tolerance=0.05,
            quality_floor=0.85,
            paired=paired,
        )
        results[name] = {
            "delta": round(paired.delta, 4),
            "interval": [round(paired.low, 4) + 0.0, round(paired.high, 4) + 0.0],  # no "-0.0"
            "mcnemar_p_value": round(paired.mcnemar_p_value, 4),
            "promoted": decision.promote,
        }
    return results
