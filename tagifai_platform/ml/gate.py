"""The champion/challenger gate: promote a challenger only when it is better beyond noise.

A pure function of two :func:`~tagifai_platform.ml.evaluation.evaluate` reports on the same
holdout, and of a paired comparison of the two models' predictions on the same texts, so the
whole decision table is a unit test. The first model has nobody to beat and must clear an
absolute floor instead.

Why paired: on 191 holdout projects the 95 % interval of one weighted F1 is about +-4 points, so
"higher by one project" is noise. Both models answer the same texts, and most answers agree; the
uncertainty of the *difference* comes only from the texts where they disagree. A paired bootstrap
(resampling texts, scoring both models on each resample) gives an interval for the F1 gain, and
McNemar's exact test on the discordant texts is reported beside it. The rule, in order:

1. A behavioural test (``behavioural_tests``) the champion passes and the challenger fails blocks:
   a model that forgets an obvious case is not promoted on an average.
2. A slice falling more than ``slice_tolerance`` below the champion's blocks (as before): an average
   can rise while a group of projects gets worse. Slices under ``min_slice_rows`` do not gate.
3. **Superiority**: the lower end of the interval of the F1 gain is above ``margin`` (0 by
   default): better beyond noise. Equal models (interval [0, 0]) are not promoted.
4. **Non-inferiority**: otherwise, a challenger that brings newer data (labels the champion never
   learned from) is promoted when the lower end is above ``-non_inferiority_margin``: not worse
   beyond a small margin, and knowing today's traffic is worth having.

Without a paired comparison (no per-text predictions given) the gain's point estimate must exceed
``margin``, the rule before this one; callers should always pass one.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
from scipy import stats

from tagifai_platform.ml.evaluation import central_interval, weighted_f1_rows
from tagifai_platform.settings import Settings

METRICS = ("precision", "recall", "f1")
MIN_SLICE_ROWS = 10
# Scores are sums of fractions: 0.90 + 0.01 is not exactly 0.91, and must still count as meeting it.
EPSILON = 1e-9


@dataclass(frozen=True)
class PairedComparison:
    """Challenger minus champion weighted F1 on the same texts, with its bootstrap interval.

    ``challenger_only``/``champion_only`` count the texts exactly one of the two gets right (the
    discordant pairs McNemar's test looks at); ``texts_fingerprint`` names the texts compared, so
    a record says what the interval is about.
    """

    texts: int
    delta: float
    low: float
    high: float
    confidence: float
    resamples: int
    seed: int
    challenger_only: int
    champion_only: int
    mcnemar_p_value: float
    texts_fingerprint: str = ""

    def describe(self) -> str:
        return (
            f"paired F1 gain {self.delta:+.4f}, {self.confidence:.0%} interval"
            f" [{self.low:+.4f}, {self.high:+.4f}]"
            f" on {self.texts} texts ({self.challenger_only} fixed, {self.champion_only} broken,"
            f" McNemar p={self.mcnemar_p_value:.2g})"
        )


@dataclass(frozen=True)
class GateDecision:
    promote: bool
    reasons: list[str]
    deltas: dict[str, float] = field(default_factory=dict)
    class_deltas: dict[str, float] = field(default_factory=dict)
    slice_deltas: dict[str, float] = field(default_factory=dict)
    paired: PairedComparison | None = None
    rule: str | None = None  # "floor", "superiority", "non_inferiority" or None when refused
    behavioural_regressions: list[dict] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def texts_fingerprint(texts: Sequence[str]) -> str:
    return hashlib.sha1("\x1f".join(map(str, texts)).encode()).hexdigest()[:16]


def paired_comparison(
    truth: Sequence[str],
    challenger: Sequence[str],
    champion: Sequence[str],
    *,
    confidence: float = Settings.gate_confidence,
    resamples: int = Settings.gate_resamples,
    seed: int = 0,
    texts: Sequence[str] | None = None,
) -> PairedComparison:
    """Paired bootstrap of the weighted-F1 gain of ``challenger`` over ``champion`` on the same texts.

    Each resample draws the texts with replacement and scores both models' answers on the *same*
    draw; the percentile interval of the differences is returned. Seeded: the same inputs give the
    same interval, so a gate decision can be replayed.
    """
    truth, ours, theirs = (
        np.asarray([str(tag) for tag in column]) for column in (truth, challenger, champion)
    )
    if not len(truth) == len(ours) == len(theirs) or not len(truth):
        raise ValueError("a paired comparison needs the same, non-empty texts answered by both models")
    labels = {label: code for code, label in enumerate(sorted({*truth, *ours, *theirs}))}
    codes = [np.array([labels[tag] for tag in column]) for column in (truth, ours, theirs)]
    rng = np.random.default_rng(seed)
    draws = rng.integers(0, len(truth), size=(resamples, len(truth)))
    whole = np.arange(len(truth))[None, :]
    delta = float(
        weighted_f1_rows(codes[0][whole], codes[1][whole], len(labels))[0]
        - weighted_f1_rows(codes[0][whole], codes[2][whole], len(labels))[0]
    )
    differences = weighted_f1_rows(codes[0][draws], codes[1][draws], len(labels)) - weighted_f1_rows(
        codes[0][draws], codes[2][draws], len(labels)
    )
    low, high = central_interval(differences, confidence)
    fixed = int(((ours == truth) & (theirs != truth)).sum())
    broken = int(((ours != truth) & (theirs == truth)).sum())
    discordant = fixed + broken
    p_value = float(stats.binomtest(fixed, discordant, 0.5).pvalue) if discordant else 1.0
    return PairedComparison(
        texts=len(truth),
        delta=delta,
        low=low,
        high=high,
        confidence=confidence,
        resamples=resamples,
        seed=seed,
        challenger_only=fixed,
        champion_only=broken,
        mcnemar_p_value=p_value,
        texts_fingerprint=texts_fingerprint(texts) if texts is not None else "",
    )


def compare_models(challenger_model, champion_model, frame, **options) -> PairedComparison:
    """:func:`paired_comparison` of two fitted models on a labeled frame (``text``, ``tag``).

    The frame is the frozen holdout, plus the recent labeled slice when there is one: the traffic
    a drift-prompted retrain was made for, which the holdout predates.
    """
    texts = frame["text"].tolist()
    return paired_comparison(
        frame["tag"].tolist(),
        [str(tag) for tag in challenger_model.predict(texts)],
        [str(tag) for tag in champion_model.predict(texts)],
        texts=texts,
        **options,
    )


def behavioural_regressions(challenger: dict | None, champion: dict | None) -> list[dict]:
    """The behavioural cases the champion passes and the challenger fails (``behavioural_tests`` results)."""
    if challenger is None or champion is None:
        return []
    champion_failed = {(case["kind"], tuple(case["texts"])) for case in champion["failures"]}
    return [
        case for case in challenger["failures"] if (case["kind"], tuple(case["texts"])) not in champion_failed
    ]


def decide_promotion(
    challenger: dict,
    champion: dict | None,
    *,
    margin: float,
    slice_tolerance: float,
    quality_floor: float,
    min_slice_rows: int = MIN_SLICE_ROWS,
    paired: PairedComparison | None = None,
    non_inferiority_margin: float = Settings.non_inferiority_margin,
    brings_new_data: bool = False,
    challenger_behaviour: dict | None = None,
    champion_behaviour: dict | None = None,
) -> GateDecision:
    """Whether ``challenger`` should replace ``champion`` (``None`` when there is none yet), and why.

    The rule is the module docstring's. Deltas are challenger minus champion: overall
    precision/recall/F1, F1 per tag and F1 per slice. ``paired`` compares both models on the same
    texts; ``brings_new_data`` says the challenger learned from labels the champion never saw (a
    different training-data fingerprint), which alone opens the non-inferiority route.
    """
    f1 = challenger["overall"]["f1"]
    if champion is None:
        clears = f1 >= quality_floor - EPSILON
        verdict = "clears" if clears else "is below"
        return GateDecision(
            clears,
            [f"first model: holdout f1 {f1:.4f} {verdict} the floor {quality_floor:.4f}"],
            paired=paired,
            rule="floor" if clears else None,
        )

    deltas = {metric: challenger["overall"][metric] - champion["overall"][metric] for metric in METRICS}
    class_deltas = {
        label: challenger["per_class"][label]["f1"] - scores["f1"]
        for label, scores in champion["per_class"].items()
        if label in challenger["per_class"]
    }
    reasons = [f"holdout f1 {f1:.4f} vs champion {champion['overall']['f1']:.4f} ({deltas['f1']:+.4f})"]
    rule = _gain_rule(deltas["f1"], paired, margin, non_inferiority_margin, brings_new_data, reasons)

    regressions = behavioural_regressions(challenger_behaviour, champion_behaviour)
    for case in regressions:
        reasons.append(
            f"behavioural regression ({case['kind']}): {case['texts'][0]!r} expected {case['expected']},"
            f" got {case['predicted']}; the champion passes it"
        )

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
    promote = rule is not None and not regressed and not regressions
    return GateDecision(
        promote,
        reasons,
        deltas,
        class_deltas,
        slice_deltas,
        paired=paired,
        rule=rule if promote else None,
        behavioural_regressions=regressions,
    )


def _gain_rule(
    delta: float,
    paired: PairedComparison | None,
    margin: float,
    non_inferiority_margin: float,
    brings_new_data: bool,
    reasons: list[str],
) -> str | None:
    """Which route (``superiority``, ``non_inferiority``) the F1 gain opens, if any; appends why."""
    if paired is None:
        better = delta > margin + EPSILON
        reasons.append(
            f"no paired comparison: the gain {delta:+.4f} "
            + ("exceeds" if better else "does not exceed")
            + f" the margin {margin:.4f}"
        )
        return "superiority" if better else None
    reasons.append(paired.describe())
    if paired.low > margin + EPSILON:
        reasons.append(f"better beyond noise: the interval's lower end is above {margin:+.4f}")
        return "superiority"
    if not brings_new_data:
        reasons.append(
            f"the gain is within the noise (lower end {paired.low:+.4f} not above {margin:+.4f})"
            " and the challenger learned from no data the champion lacks"
        )
        return None
    if paired.low > -non_inferiority_margin - EPSILON:
        reasons.append(
            f"not worse beyond the non-inferiority margin {non_inferiority_margin:.4f}"
            f" (lower end {paired.low:+.4f}) and trained on newer data"
        )
        return "non_inferiority"
    reasons.append(
        f"trained on newer data, but possibly worse by more than the non-inferiority margin"
        f" {non_inferiority_margin:.4f} (lower end {paired.low:+.4f})"
    )
    return None


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
