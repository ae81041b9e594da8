import numpy as np
import pytest

from tagifai_platform.ml.gate import (
    behavioural_regressions,
    decide_promotion,
    paired_comparison,
    regression_report_markdown,
)

POLICY = {"margin": 0.01, "slice_tolerance": 0.05, "quality_floor": 0.85}


def report(f1, slices=None, per_class=None):
    """A minimal ``evaluate`` report: the overall scores, per-tag F1s and slice F1s (with rows)."""
    return {
        "overall": {"precision": f1 + 0.01, "recall": f1 - 0.01, "f1": f1, "num_samples": 191},
        "per_class": {
            tag: {"precision": s, "recall": s, "f1": s, "support": 10}
            for tag, s in (per_class or {"mlops": f1}).items()
        },
        "slices": {
            name: {"precision": s, "recall": s, "f1": s, "num_samples": rows}
            for name, (s, rows) in (slices or {}).items()
        },
    }


@pytest.mark.parametrize("f1, promote", [(0.90, True), (0.85, True), (0.84, False)])
def test_first_model_must_clear_the_floor(f1, promote):
    decision = decide_promotion(report(f1), None, **POLICY)
    assert decision.promote is promote
    assert decision.reasons == [
        f"first model: holdout f1 {f1:.4f} {'clears' if promote else 'is below'} the floor 0.8500"
    ]
    assert decision.deltas == decision.slice_deltas == {}


@pytest.mark.parametrize(
    "challenger, champion, margin, promote",
    [
        (0.93, 0.90, 0.01, True),  # better by more than the margin
        (0.915, 0.90, 0.01, True),  # better by more than the margin
        (0.91, 0.90, 0.01, False),  # better by exactly the margin (0.90 + 0.01 is not 0.91 in floats)
        (0.905, 0.90, 0.01, False),  # better, but within the margin
        (0.90, 0.90, 0.01, False),  # equal
        (0.90, 0.90, 0.0, False),  # equal, no margin asked: an identical model is never promoted
        (0.88, 0.90, 0.01, False),  # worse
        (0.80, 0.70, 0.01, True),  # below the floor, but the floor only gates the first model
    ],
)
def test_without_a_paired_comparison_the_gain_must_exceed_the_margin(challenger, champion, margin, promote):
    decision = decide_promotion(report(challenger), report(champion), **{**POLICY, "margin": margin})
    assert decision.promote is promote
    assert decision.deltas["f1"] == pytest.approx(challenger - champion)
    assert decision.deltas["precision"] == pytest.approx(challenger - champion)
    assert ("exceeds" if promote else "does not exceed") in decision.reasons[1]


def test_a_slice_falling_beyond_the_tolerance_blocks_a_better_model():
    champion = report(0.90, slices={"short_text": (0.90, 15), "transformers": (0.95, 27)})
    challenger = report(0.95, slices={"short_text": (0.84, 15), "transformers": (0.91, 27)})
    decision = decide_promotion(challenger, champion, **POLICY)
    assert not decision.promote
    assert decision.slice_deltas == pytest.approx({"short_text": -0.06, "transformers": -0.04})
    assert any(reason.startswith("slice short_text regressed: f1 -0.0600") for reason in decision.reasons)
    assert any(reason.startswith("slice transformers: f1 -0.0400, within") for reason in decision.reasons)


def test_a_slice_falling_within_the_tolerance_does_not_block():
    champion = report(0.90, slices={"short_text": (0.90, 15)})
    challenger = report(0.95, slices={"short_text": (0.85, 15)})
    assert decide_promotion(challenger, champion, **POLICY).promote


def test_small_and_empty_slices_are_reported_but_do_not_gate():
    champion = report(0.90, slices={"cnns": (1.0, 4), "gans": (None, 0)})
    challenger = report(0.95, slices={"cnns": (0.5, 4), "gans": (None, 0)})
    decision = decide_promotion(challenger, champion, **POLICY)
    assert decision.promote
    assert decision.slice_deltas == {"cnns": -0.5}
    assert "slice cnns: -0.5000 not gated, 4 rows < 10" in decision.reasons
    assert "slice gans: not compared, no rows on one side" in decision.reasons
    assert not decide_promotion(challenger, champion, **POLICY, min_slice_rows=4).promote


def test_decision_is_plain_data():
    champion = report(0.90, slices={"short_text": (0.9, 15)}, per_class={"mlops": 0.8, "other": 0.9})
    challenger = report(0.92, slices={"short_text": (0.9, 15)}, per_class={"mlops": 0.85, "other": 0.9})
    as_dict = decide_promotion(challenger, champion, **POLICY).as_dict()
    assert as_dict["promote"] is True
    assert as_dict["class_deltas"] == pytest.approx({"mlops": 0.05, "other": 0.0})
    assert set(as_dict) == {
        "promote",
        "reasons",
        "deltas",
        "class_deltas",
        "slice_deltas",
        "paired",
        "rule",
        "behavioural_regressions",
    }


def test_markdown_report_tabulates_the_deltas():
    champion = report(0.90, slices={"short_text": (0.90, 15)}, per_class={"mlops": 0.80})
    challenger = report(0.88, slices={"short_text": (0.80, 15)}, per_class={"mlops": 0.85})
    decision = decide_promotion(challenger, champion, **POLICY)
    markdown = regression_report_markdown(decision, challenger, champion)
    assert "**not promoted; the champion is unchanged**" in markdown
    assert "| metric | champion | challenger | delta |" in markdown
    assert "| f1 | 0.9000 | 0.8800 | -0.0200 |" in markdown
    assert "| precision | 0.9100 | 0.8900 | -0.0200 |" in markdown
    assert "| f1 · mlops | 0.8000 | 0.8500 | +0.0500 |" in markdown
    assert "| f1 · slice short_text (15 rows) | 0.9000 | 0.8000 | -0.1000 |" in markdown
    assert all(f"- {reason}" in markdown for reason in decision.reasons)


def test_markdown_report_of_a_first_model_has_no_champion_column_values():
    challenger = report(0.80)
    markdown = regression_report_markdown(decide_promotion(challenger, None, **POLICY), challenger, None)
    assert "| f1 | — | 0.8000 | — |" in markdown
    assert "first model: holdout f1 0.8000 is below the floor 0.8500" in markdown


# Constructed predictions on 191 texts, the holdout's size: the champion gets 170 right.
TAGS = ["computer-vision", "natural-language-processing", "mlops", "other"]
TRUTH = [TAGS[i % 4] for i in range(191)]
WRONG = {i: TAGS[(i + 1) % 4] for i in range(0, 191, 9)}  # 21 texts the champion gets wrong
CHAMPION_ANSWERS = [WRONG.get(i, tag) for i, tag in enumerate(TRUTH)]
POLICY_NON_INFERIORITY = 0.02  # the default margin


def fixing(n, breaking=0):
    """The champion's answers, its first ``n`` mistakes fixed and ``breaking`` right answers made wrong."""
    answers = list(CHAMPION_ANSWERS)
    for i in sorted(WRONG)[:n]:
        answers[i] = TRUTH[i]
    right = [i for i in range(191) if i not in WRONG]
    for i in right[:breaking]:
        answers[i] = TAGS[(TAGS.index(TRUTH[i]) + 2) % 4]
    return answers


def scores_of(answers):
    from sklearn.metrics import f1_score

    return report(f1_score(TRUTH, answers, average="weighted"))


def gate(answers, **options):
    paired = paired_comparison(TRUTH, answers, CHAMPION_ANSWERS, seed=7)
    return decide_promotion(
        scores_of(answers), scores_of(CHAMPION_ANSWERS), **{**POLICY, "margin": 0.0}, paired=paired, **options
    )


def test_the_paired_gain_matches_scikit_learn_and_is_reproducible():
    from sklearn.metrics import f1_score

    answers = fixing(5, breaking=2)
    first = paired_comparison(TRUTH, answers, CHAMPION_ANSWERS, seed=3)
    expected = f1_score(TRUTH, answers, average="weighted") - f1_score(
        TRUTH, CHAMPION_ANSWERS, average="weighted"
    )
    assert first.delta == pytest.approx(expected)
    assert first.low < first.delta < first.high
    assert (first.challenger_only, first.champion_only) == (5, 2)
    assert first == paired_comparison(TRUTH, answers, CHAMPION_ANSWERS, seed=3)


def test_a_one_project_gain_is_refused():
    decision = gate(fixing(1))
    assert decision.deltas["f1"] > 0 and decision.paired.low <= 0
    assert not decision.promote and decision.rule is None
    assert any("within the noise" in reason for reason in decision.reasons)


def test_equal_scores_are_not_promoted():
    decision = gate(list(CHAMPION_ANSWERS))
    assert (decision.paired.low, decision.paired.high) == (0.0, 0.0)
    assert not decision.promote


def test_a_clear_gain_is_promoted_with_its_interval():
    decision = gate(fixing(15))
    assert decision.promote and decision.rule == "superiority"
    assert decision.paired.low > 0 and decision.paired.mcnemar_p_value < 0.001
    assert decision.as_dict()["paired"]["low"] == decision.paired.low


def test_newer_data_not_worse_beyond_the_margin_is_promoted():
    same = gate(list(CHAMPION_ANSWERS), brings_new_data=True)
    assert same.promote and same.rule == "non_inferiority"
    worse = gate(fixing(0, breaking=12), brings_new_data=True)
    assert worse.paired.low < -POLICY_NON_INFERIORITY and not worse.promote


def behaviour(*failed_texts):
    failures = [
        {"kind": "minimum_functionality", "texts": [text], "expected": "mlops", "predicted": ["other"]}
        for text in failed_texts
    ]
    return {"passed": 12 - len(failures), "failed": len(failures), "failures": failures}


def test_a_behavioural_regression_blocks_a_clear_gain():
    decision = gate(
        fixing(15), challenger_behaviour=behaviour("MLOps is next"), champion_behaviour=behaviour()
    )
    assert not decision.promote
    assert [case["texts"] for case in decision.behavioural_regressions] == [["MLOps is next"]]
    assert any(reason.startswith("behavioural regression") for reason in decision.reasons)


def test_a_case_both_models_fail_does_not_block():
    assert behavioural_regressions(behaviour("hard"), behaviour("hard")) == []
    assert gate(
        fixing(15), challenger_behaviour=behaviour("hard"), champion_behaviour=behaviour("hard")
    ).promote


def test_the_interval_covers_the_true_gain_on_resampled_populations():
    """Calibration of the bootstrap: drawn samples of a known population, the interval holds its gain."""
    from sklearn.metrics import f1_score

    rng = np.random.default_rng(0)
    population = 5000
    truth = rng.choice(TAGS, size=population)
    champion = np.where(rng.random(population) < 0.88, truth, rng.choice(TAGS, size=population))
    challenger = np.where(rng.random(population) < 0.3, truth, champion)
    true_gain = f1_score(truth, challenger, average="weighted") - f1_score(
        truth, champion, average="weighted"
    )
    covered = 0
    for trial in range(40):
        rows = rng.choice(population, size=191, replace=False)
        paired = paired_comparison(truth[rows], challenger[rows], champion[rows], seed=trial, resamples=500)
        covered += paired.low <= true_gain <= paired.high
    assert covered >= 34  # 95 % nominal; 40 trials leave room for the binomial spread
