"""What to do about a monitoring report: continue, inspect, improve (retrain) or roll back.

A pure function of the report, the earlier decisions and the champion's lineage, so that every
rule is a unit test and the orchestrator only has to act on the answer. The rules, first match wins:

1. Window below the minimum size -> ``continue``: too little evidence to act either way.
2. The champion's live F1 is clearly (``rollback_margin``) below what its predecessor achieved,
   a predecessor exists and no rollback happened within ``rollback_cooldown`` -> ``rollback``
   to the predecessor. A bad promotion is undone before anything is retrained on top of it; the
   cooldown stops two versions from being swapped back and forth. Both live F1s need at least the
   report's ``min_labeled_rows`` labels (a predecessor's 1.00 on 3 requests is no baseline; its
   holdout F1 stands in), and a version that was itself rolled back is never a target again: after
   a rollback the restored version's predecessor *is* the bad one, and a champion a drift retrain promoted
   (``after_drift_retrain``) is not judged against its predecessor's live F1 from before the drift.
3. Live F1 below the floor -> ``improve`` at once: labels say the model is wrong.
4. Drift in at least ``strong_drift_families`` families (input, prediction, confidence, estimated
   performance), input among them -> ``improve``, and any drift -> ``inspect``, but only once
   drift has persisted for ``drift_persistence`` consecutive windows (hysteresis; strong drift in
   each of them for an improve): one odd window of normal traffic must not start anything. Until
   then -> ``continue``, saying how far it got.
   Input is required because retraining adds new data: when the texts have not moved but the model
   answers them differently (a fresh promotion that is worse), new data is not what is missing,
   and the labels decide (rollback).
5. An ``improve`` within ``improve_cooldown`` turns into ``inspect``: retraining takes a while to
   land and one drift episode must not start a retraining storm. An improve whose retraining
   failed (``outcome="failed"``, e.g. an annotated file that could not be read, or too few labels
   yet) spent nothing. An improve names where the drift began (``changed_since``, the start of the
   first window of the drifting run): a retraining is only worth its cooldown once the changed
   traffic has labels to learn from, which the retraining set checks.
6. Any other alert (or a rollback held back) -> ``inspect``: a human looks. Otherwise ``continue``.

Hysteresis counts the decisions in ``history``, so the engine must decide on *every* monitoring
window (``continue`` included), each recorded with its ``window_end``; a second decision on the
same window does not count twice.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from tagifai_platform.monitoring.drift import INPUT, PERFORMANCE, MonitoringReport
from tagifai_platform.settings import Settings

FAILED = "failed"


class Action(StrEnum):
    CONTINUE = "continue"
    INSPECT = "inspect"
    IMPROVE = "improve"
    ROLLBACK = "rollback"


@dataclass(frozen=True)
class ChampionContext:
    """The model in service and the one it replaced, as the registry's promotion log knows them.

    What the predecessor "achieved" is best its live F1 while it served (same kind of figure as
    the champion's); without it, its holdout F1 stands in.
    """

    version: str
    previous_version: str | None = None
    previous_holdout_f1: float | None = None
    previous_live_f1: float | None = None
    previous_live_labels: int | None = None  # how many labels that live F1 stands on; None: unknown
    # Promoted by a policy retrain (drift, a live-F1 drop): its gate compared it with the predecessor on
    # the same texts, while the predecessor's live F1 is from traffic before the change, no baseline.
    after_drift_retrain: bool = False


@dataclass(frozen=True)
class PolicySettings:
    improve_cooldown: timedelta = timedelta(days=7)
    rollback_cooldown: timedelta = timedelta(days=14)
    rollback_margin: float = 0.05  # live F1 this far below the predecessor's is "clearly worse"
    strong_drift_families: int = 2  # of input, prediction, confidence, estimated performance
    drift_persistence: int = Settings.drift_persistence  # consecutive drifting windows before acting


@dataclass(frozen=True)
class PolicyDecision:
    """A decision, also the unit of ``history``; ``target_version`` is set for a rollback only.

    ``drift_families`` (the window's drift alerts) and ``window_start``/``window_end`` are what
    hysteresis counts; ``changed_since`` (an improve's) is where the drift it reacts to began, so the
    retraining can wait for labels of the changed traffic. ``outcome`` is set afterwards to
    ``"failed"`` when the action could not be carried out.
    """

    action: Action
    at: datetime
    reasons: tuple[str, ...]
    model_version: str | None = None
    target_version: str | None = None
    drift_families: tuple[str, ...] = ()
    window_start: str | None = None
    window_end: str | None = None
    changed_since: str | None = None
    outcome: str | None = None

    @property
    def failed(self) -> bool:
        return self.outcome == FAILED

    def to_dict(self) -> dict[str, Any]:
        return {
            "action": str(self.action),
            "at": self.at.isoformat(),
            "reasons": list(self.reasons),
            "model_version": self.model_version,
            "target_version": self.target_version,
            "drift_families": list(self.drift_families),
            "window_start": self.window_start,
            "window_end": self.window_end,
            "changed_since": self.changed_since,
            "outcome": self.outcome,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> PolicyDecision:
        return cls(
            action=Action(data["action"]),
            at=datetime.fromisoformat(data["at"]),
            reasons=tuple(data["reasons"]),
            model_version=data.get("model_version"),
            target_version=data.get("target_version"),
            drift_families=tuple(data.get("drift_families") or ()),
            window_start=data.get("window_start"),
            window_end=data.get("window_end"),
            changed_since=data.get("changed_since"),
            outcome=data.get("outcome"),
        )


def last_within(
    history: Iterable[PolicyDecision], action: Action, *, now: datetime, cooldown: timedelta
) -> PolicyDecision | None:
    """The latest ``action`` decided less than ``cooldown`` before ``now`` and not failed, if any."""
    recent = [
        entry for entry in carried_out(history) if entry.action == action and now - cooldown < entry.at <= now
    ]
    return max(recent, key=lambda entry: entry.at, default=None)


def carried_out(history: Iterable[PolicyDecision]) -> list[PolicyDecision]:
    """The decisions of ``history`` not marked failed.

    The decision log is append-only: a failure is recorded as the same decision (same action and
    time) again with ``outcome="failed"``, and both records then drop out.
    """
    history = list(history)
    failed = {(entry.action, entry.at) for entry in history if entry.failed}
    return [entry for entry in history if (entry.action, entry.at) not in failed]


def rolled_back_versions(history: Iterable[PolicyDecision]) -> set[str]:
    """Versions a rollback moved away from: never a rollback target again (no flapping)."""
    return {
        str(entry.model_version)
        for entry in carried_out(history)
        if entry.action == Action.ROLLBACK and entry.model_version is not None
    }


def predecessor_baseline(champion: ChampionContext, min_labels: int) -> tuple[float, str, str] | None:
    """What the predecessor achieved: live F1 on ``min_labels`` labels or more, else its holdout F1."""
    live_labels = champion.previous_live_labels or 0
    if champion.previous_live_f1 is not None and live_labels >= min_labels:
        return champion.previous_live_f1, "live F1", f" (on {live_labels} labels)"
    if champion.previous_holdout_f1 is not None:
        return champion.previous_holdout_f1, "holdout F1", ""
    return None


def rollback_reason(
    report: MonitoringReport,
    champion: ChampionContext,
    margin: float,
    history: Iterable[PolicyDecision] = (),
) -> str | None:
    """Why the champion looks worse than its predecessor, or ``None`` when it does not (or cannot be told).

    Live F1 only counts when it is the champion's alone: a window mixing versions says nothing
    about one of them.
    """
    performance = report.performance
    if champion.previous_version is None or not performance.enough_labels or champion.after_drift_retrain:
        return None
    if set(report.model_versions) != {str(champion.version)}:
        return None
    if str(champion.previous_version) in rolled_back_versions(history):
        return None
    baseline = predecessor_baseline(champion, report.thresholds.min_labeled_rows)
    if baseline is None or baseline[0] - performance.f1 < margin:
        return None
    value, source, evidence = baseline
    return (
        f"champion {champion.version} scores live F1 {performance.f1:.2f} on {performance.labeled_rows}"
        f" labeled requests, {value - performance.f1:.2f} below the {source} {value:.2f}{evidence}"
        f" of its predecessor {champion.previous_version}"
    )


def drift_run(
    report: MonitoringReport,
    history: Sequence[PolicyDecision],
    qualifies: Callable[[set[str]], bool] = bool,
) -> list[str | None]:
    """The starts of the consecutive windows, ending with ``report``'s, whose drift alerts
    ``qualifies``, latest first.

    Earlier decisions on the same window (``window_end``) are skipped, not counted twice, and so
    are windows overlapping the one counted last (a 24-hour window monitored hourly is mostly the
    same traffic as the hour before). A window that ended a window's length or more before the
    next one began breaks the run: the windows in between were not decided on (the engine runs
    when a check fails), so they were quiet. A new champion does not restart the run: persistence
    is a property of the traffic, and the improve cooldown already keeps a fresh retrain from
    being retrained at once.
    """
    if not qualifies(report.alert_families - {PERFORMANCE}):
        return []
    starts = [report.window_start]
    seen = {report.window_end}
    start, end = _moment(report.window_start), _moment(report.window_end)
    for entry in sorted(history, key=lambda entry: entry.at, reverse=True):
        if entry.window_end is not None and entry.window_end in seen:
            continue
        earlier_end = _moment(entry.window_end)
        if start is not None and end is not None and earlier_end is not None:
            if earlier_end > start:
                continue
            if earlier_end <= start - (end - start):
                break
        if not qualifies(set(entry.drift_families)):
            break
        seen.add(entry.window_end)
        starts.append(entry.window_start)
        start, end = _moment(entry.window_start), earlier_end
    return starts


def _moment(value: str | None) -> datetime | None:
    return None if value is None else datetime.fromisoformat(value)


def decide(
    report: MonitoringReport,
    history: Sequence[PolicyDecision],
    *,
    now: datetime,
    champion: ChampionContext,
    settings: PolicySettings | None = None,
) -> PolicyDecision:
    """The action for ``report`` under the rules in the module docstring, with its reasons."""
    settings = settings or PolicySettings()
    drifting = report.alert_families - {PERFORMANCE}

    def decision(
        action: Action, reasons: Iterable[str], target: str | None = None, changed_since: str | None = None
    ) -> PolicyDecision:
        return PolicyDecision(
            action,
            now,
            tuple(reasons),
            str(champion.version),
            target,
            drift_families=tuple(sorted(drifting)) if report.enough_data else (),
            window_start=report.window_start,
            window_end=report.window_end,
            changed_since=changed_since,
        )

    if not report.enough_data:
        minimum = report.thresholds.min_window_size
        return decision(
            Action.CONTINUE, [f"only {report.window_size} predictions in the window, {minimum} needed to act"]
        )
    reasons = [alert.message for alert in report.alerts]
    worse = rollback_reason(report, champion, settings.rollback_margin, history)
    if worse is not None:
        earlier = last_within(history, Action.ROLLBACK, now=now, cooldown=settings.rollback_cooldown)
        if earlier is None:
            return decision(Action.ROLLBACK, [worse, *reasons], target=champion.previous_version)
        reasons.append(f"{worse}; no second rollback within the cooldown (last {earlier.at:%Y-%m-%d %H:%M})")

    def strong(families: set[str]) -> bool:
        return INPUT in families and len(families) >= settings.strong_drift_families

    needed = settings.drift_persistence
    drifted = drift_run(report, history)
    streak = len(drifted)
    strong_streak = len(drift_run(report, history, strong))
    underperforming = PERFORMANCE in report.alert_families
    persistent_strong = strong_streak >= needed
    if persistent_strong:
        reasons.append(
            f"strong drift: alerts in {', '.join(sorted(drifting))} at once,"
            f" for {strong_streak} consecutive windows"
        )
    if underperforming or persistent_strong:
        earlier = last_within(history, Action.IMPROVE, now=now, cooldown=settings.improve_cooldown)
        if earlier is None:
            began = next((start for start in reversed(drifted) if start is not None), None)
            return decision(Action.IMPROVE, reasons, changed_since=began)
        reasons.append(
            f"retraining was already decided at {earlier.at:%Y-%m-%d %H:%M}, within the"
            f" {settings.improve_cooldown} cooldown"
        )
        return decision(Action.INSPECT, reasons)
    if drifting and streak < needed:
        reasons.append(f"drift in {streak} of the {needed} consecutive windows needed before acting")
        return decision(Action.CONTINUE, reasons)
    if reasons:
        return decision(Action.INSPECT, reasons)
    return decision(Action.CONTINUE, ["no alert"])
