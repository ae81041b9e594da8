import pytest

from tagifai_platform.ml.gate import decide_promotion, regression_report_markdown

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
        (0.91, 0.90, 0.01, True),  # better by exactly the margin (0.90 + 0.01 is not 0.91 in floats)
        (0.905, 0.90, 0.01, False),  # better, but within the margin
        (0.90, 0.90, 0.01, False),  # equal
        (0.90, 0.90, 0.0, True),  # equal, no margin asked
        (0.88, 0.90, 0.01, False),  # worse
        (0.80, 0.70, 0.01, True),  # below the floor, but the floor only gates the first model
    ],
)
def test_challenger_must_beat_the_champion_by_the_margin(challenger, champion, margin, promote):
    decision = decide_promotion(report(challenger), report(champion), **{**POLICY, "margin": margin})
    assert decision.promote is promote
    assert decision.deltas["f1"] == pytest.approx(challenger - champion)
    assert decision.deltas["precision"] == pytest.approx(challenger - champion)
    assert ("meets" if promote else "short of") in decision.reasons[0]


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
    assert set(as_dict) == {"promote", "reasons", "deltas", "class_deltas", "slice_deltas"}


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
