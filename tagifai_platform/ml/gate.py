"""The champion/challenger gate: promote a challenger only when it is better where it matters.

A pure function of two :func:`~tagifai_platform.ml.evaluation.evaluate` reports on the same
holdout, so the whole decision table is a unit test. The first model has nobody to beat and must
clear an absolute floor instead. Later ones must beat the champion's weighted F1 by ``margin``
without any slice falling more than ``slice_tolerance`` below the champion's same slice: an
average can rise while a group of projects gets worse.

Slices with fewer than ``min_slice_rows`` rows on either side are reported but do not gate: on
four projects one flipped prediction moves F1 by a quarter, which is noise, not a regression.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

METRICS = ("precision", "recall", "f1")
MIN_SLICE_ROWS = 10
# Scores are sums of fractions: 0.90 + 0.01 is not exactly 0.91, and must still count as meeting it.
EPSILON = 1e-9


@dataclass(frozen=True)
class GateDecision:
    promote: bool
    reasons: list[str]
    deltas: dict[str, float] = field(default_factory=dict)
    class_deltas: dict[str, float] = field(default_factory=dict)
    slice_deltas: dict[str, float] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def decide_promotion(
    challenger: dict,
    champion: dict | None,
    *,
    margin: float,
    slice_tolerance: float,
    quality_floor: float,
    min_slice_rows: int = MIN_SLICE_ROWS,
) -> GateDecision:
    """Whether ``challenger`` should replace ``champion`` (``None`` when there is none yet), and why.

    Deltas are challenger minus champion: overall precision/recall/F1, F1 per tag and F1 per slice.
    """
    f1 = challenger["overall"]["f1"]
    if champion is None:
        clears = f1 >= quality_floor - EPSILON
        verdict = "clears" if clears else "is below"
        return GateDecision(
            clears, [f"first model: holdout f1 {f1:.4f} {verdict} the floor {quality_floor:.4f}"]
        )

    deltas = {metric: challenger["overall"][metric] - champion["overall"][metric] for metric in METRICS}
    class_deltas = {
        label: challenger["per_class"][label]["f1"] - scores["f1"]
        for label, scores in champion["per_class"].items()
        if label in challenger["per_class"]
    }
    required = champion["overall"]["f1"] + margin
    better = deltas["f1"] >= margin - EPSILON
    reasons = [
        f"holdout f1 {f1:.4f} vs champion {champion['overall']['f1']:.4f} ({deltas['f1']:+.4f}): "
        + (f"meets the required {required:.4f}" if better else f"short of the required {required:.4f}")
    ]

    slice_deltas = {}
    regressed = False
    for name, theirs in champion["slices"].items():
        ours = challenger["slices"].get(name)
        if ours is None or ours["f1"] is None or theirs["f1"] is None:
            reasons.append(f"slice {name}: not compared, no rows on one side")
            continue
        delta = slice_deltas[name] = ours["f1"] - theirs["f1"]
        rows = min(ours["num_samples"], theirs["num_samples"])
        if rows < min_slice_rows:
            reasons.append(f"slice {name}: {delta:+.4f} not gated, {rows} rows < {min_slice_rows}")
        elif delta < -slice_tolerance - EPSILON:
            regressed = True
            reasons.append(
                f"slice {name} regressed: f1 {delta:+.4f}, beyond the tolerance {slice_tolerance:.4f}"
            )
        else:
            reasons.append(f"slice {name}: f1 {delta:+.4f}, within the tolerance {slice_tolerance:.4f}")
    return GateDecision(better and not regressed, reasons, deltas, class_deltas, slice_deltas)


def regression_report_markdown(decision: GateDecision, challenger: dict, champion: dict | None) -> str:
    """The decision, its reasons and a table of champion/challenger scores with deltas, for people."""
    outcome = "promoted" if decision.promote else "not promoted; the champion is unchanged"
    rows = [
        (
            metric,
            _champion_value(champion, "overall", metric),
            challenger["overall"][metric],
            decision.deltas.get(metric),
        )
        for metric in METRICS
    ]
    rows += [
        (
            f"f1 · {label}",
            _champion_value(champion, "per_class", label),
            scores["f1"],
            decision.class_deltas.get(label),
        )
        for label, scores in challenger["per_class"].items()
    ]
    rows += [
        (
            f"f1 · slice {name} ({scores['num_samples']} rows)",
            _champion_value(champion, "slices", name),
            scores["f1"],
            decision.slice_deltas.get(name),
        )
        for name, scores in challenger["slices"].items()
    ]
    lines = [
        "# Champion/challenger report",
        "",
        f"The challenger was **{outcome}**.",
        "",
        *[f"- {reason}" for reason in decision.reasons],
        "",
        "| metric | champion | challenger | delta |",
        "|---|---:|---:|---:|",
        *[
            f"| {name} | {_number(old)} | {_number(new)} | {_number(delta, signed=True)} |"
            for name, old, new, delta in rows
        ],
    ]
    return "\n".join(lines) + "\n"


def _champion_value(report: dict | None, section: str, name: str) -> float | None:
    if report is None or name not in report[section]:
        return None
    return report[section][name] if section == "overall" else report[section][name]["f1"]


def _number(value: float | None, *, signed: bool = False) -> str:
    if value is None:
        return "—"
    return f"{value:+.4f}" if signed else f"{value:.4f}"
