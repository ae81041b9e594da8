"""What to do about a monitoring report: continue, inspect, improve (retrain) or roll back.

A pure function of the report, the earlier decisions and the champion's lineage, so that every
rule is a unit test and the orchestrator only has to act on the answer. The rules, first match wins:

1. Window below the minimum size -> ``continue``: too little evidence to act either way.
2. The champion's live F1 is clearly (``rollback_margin``) below what its predecessor achieved,
   a predecessor exists and no rollback happened within ``rollback_cooldown`` -> ``rollback``
   to the predecessor. A bad promotion is undone before anything is retrained on top of it; the
   cooldown stops two versions from being swapped back and forth.
3. Live F1 below the floor, or drift in at least ``strong_drift_families`` families at once
   -> ``improve``; but ``inspect`` if an improve was decided within ``improve_cooldown``, since
   retraining takes a while to land and one drift episode must not start a retraining storm.
4. Any other alert (or a rollback held back by its cooldown) -> ``inspect``: a human looks.
5. Otherwise ``continue``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from tagifai_platform.monitoring.drift import MonitoringReport


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


@dataclass(frozen=True)
class PolicySettings:
    improve_cooldown: timedelta = timedelta(days=7)
    rollback_cooldown: timedelta = timedelta(days=14)
    rollback_margin: float = 0.05  # live F1 this far below the predecessor's is "clearly worse"
    strong_drift_families: int = 2  # of input, prediction, confidence


@dataclass(frozen=True)
class PolicyDecision:
    """A decision, also the unit of ``history``; ``target_version`` is set for a rollback only."""

    action: Action
    at: datetime
    reasons: tuple[str, ...]
    model_version: str | None = None
    target_version: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "action": str(self.action),
            "at": self.at.isoformat(),
            "reasons": list(self.reasons),
            "model_version": self.model_version,
            "target_version": self.target_version,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> PolicyDecision:
        return cls(
            action=Action(data["action"]),
            at=datetime.fromisoformat(data["at"]),
            reasons=tuple(data["reasons"]),
            model_version=data.get("model_version"),
            target_version=data.get("target_version"),
        )


def last_within(
    history: Iterable[PolicyDecision], action: Action, *, now: datetime, cooldown: timedelta
) -> PolicyDecision | None:
    """The latest ``action`` decided less than ``cooldown`` before ``now``, if any."""
    recent = [entry for entry in history if entry.action == action and now - cooldown < entry.at <= now]
    return max(recent, key=lambda entry: entry.at, default=None)


def rollback_reason(report: MonitoringReport, champion: ChampionContext, margin: float) -> str | None:
    """Why the champion looks worse than its predecessor, or ``None`` when it does not (or cannot be told).

    Live F1 only counts when it is the champion's alone: a window mixing versions says nothing
    about one of them.
    """
    performance = report.performance
    if champion.previous_version is None or not performance.enough_labels:
        return None
    if set(report.model_versions) != {str(champion.version)}:
        return None
    if champion.previous_live_f1 is not None:
        baseline, source = champion.previous_live_f1, "live"
    elif champion.previous_holdout_f1 is not None:
        baseline, source = champion.previous_holdout_f1, "holdout"
    else:
        return None
    if baseline - performance.f1 < margin:
        return None
    return (
        f"champion {champion.version} scores live F1 {performance.f1:.2f} on {performance.labeled_rows}"
        f" labeled requests, {baseline - performance.f1:.2f} below the {source} F1 {baseline:.2f}"
        f" of its predecessor {champion.previous_version}"
    )


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

    def decision(action: Action, reasons: Iterable[str], target: str | None = None) -> PolicyDecision:
        return PolicyDecision(action, now, tuple(reasons), str(champion.version), target)

    if not report.enough_data:
        minimum = report.thresholds.min_window_size
        return decision(
            Action.CONTINUE, [f"only {report.window_size} predictions in the window, {minimum} needed to act"]
        )
    reasons = [alert.message for alert in report.alerts]
    worse = rollback_reason(report, champion, settings.rollback_margin)
    if worse is not None:
        earlier = last_within(history, Action.ROLLBACK, now=now, cooldown=settings.rollback_cooldown)
        if earlier is None:
            return decision(Action.ROLLBACK, [worse, *reasons], target=champion.previous_version)
        reasons.append(f"{worse}; no second rollback within the cooldown (last {earlier.at:%Y-%m-%d %H:%M})")

    drifting = report.alert_families - {"performance"}
    underperforming = "performance" in report.alert_families
    strong_drift = len(drifting) >= settings.strong_drift_families
    if underperforming or strong_drift:
        if strong_drift:
            reasons.append(f"strong drift: alerts in {', '.join(sorted(drifting))} at once")
        earlier = last_within(history, Action.IMPROVE, now=now, cooldown=settings.improve_cooldown)
        if earlier is None:
            return decision(Action.IMPROVE, reasons)
        reasons.append(
            f"retraining was already decided at {earlier.at:%Y-%m-%d %H:%M}, within the"
            f" {settings.improve_cooldown} cooldown"
        )
        return decision(Action.INSPECT, reasons)
    if reasons:
        return decision(Action.INSPECT, reasons)
    return decision(Action.CONTINUE, ["no alert"])
