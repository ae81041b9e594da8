import json

import numpy as np
import pandas as pd
import pytest

from tagifai_platform.ml.evaluation import (
    DIRECTIONAL,
    INVARIANCE,
    MINIMUM_FUNCTIONALITY,
    behavioural_tests,
    confusion_matrix_png,
    evaluate,
)


class LookupModel:
    """Predicts from a text -> tag table (``default`` for unknown texts); enough for evaluation."""

    def __init__(self, table, default="other", classes=("a", "b")):
        self.table, self.default = table, default
        self.classes_ = np.array(classes)

    def predict(self, texts):
        return np.array([self.table.get(text, self.default) for text in texts], dtype=object)


def frame(rows):
    return pd.DataFrame(rows, columns=["text", "tag"])


def test_scores_on_a_hand_made_case():
    df = frame([("a one", "a"), ("a two", "a"), ("b one", "b"), ("b two", "b")])
    model = LookupModel({"a one": "a", "a two": "b", "b one": "b", "b two": "b"})
    report = evaluate(model, df)
    # a: precision 1, recall 1/2, f1 2/3; b: precision 2/3, recall 1, f1 4/5
    assert report["per_class"]["a"] == pytest.approx(
        {"precision": 1.0, "recall": 0.5, "f1": 2 / 3, "support": 2}
    )
    assert report["per_class"]["b"] == pytest.approx(
        {"precision": 2 / 3, "recall": 1.0, "f1": 0.8, "support": 2}
    )
    assert report["overall"] == pytest.approx(
        {"precision": 5 / 6, "recall": 0.75, "f1": (2 / 3 + 0.8) / 2, "num_samples": 4}
    )
    assert report["labels"] == ["a", "b"]
    assert report["confusion_matrix"] == [[1, 1], [0, 2]]


def test_fallback_predictions_get_their_own_row_and_column():
    report = evaluate(LookupModel({"x": "a"}), frame([("x", "a"), ("y", "b")]))
    assert report["labels"] == ["a", "b", "other"]
    assert report["confusion_matrix"] == [[1, 0, 0], [0, 0, 1], [0, 0, 0]]
    assert report["per_class"]["other"]["support"] == 0


def test_slices_select_the_right_rows_and_report_empty_ones():
    long_text = "a project description that is long enough to leave the short slice"
    df = frame(
        [
            ("Fine-tuning BERT", "b"),  # short, transformers
            (f"Transformers for translation: {long_text}", "b"),  # transformers
            (
                f"A transformation pipeline: {long_text}",
                "a",
            ),  # neither: 'transformation' is not 'transformer'
            (f"Image search: {long_text}", "a"),
        ]
    )
    model = LookupModel({"Fine-tuning BERT": "a"}, default="a")
    slices = evaluate(model, df)["slices"]
    assert slices["short_text"] == {"precision": 0.0, "recall": 0.0, "f1": 0.0, "num_samples": 1}
    assert slices["transformers"]["num_samples"] == 2 and slices["transformers"]["f1"] == 0.0
    assert slices["cnns"] == {"precision": None, "recall": None, "f1": None, "num_samples": 0}


def test_an_empty_frame_is_refused():
    with pytest.raises(ValueError, match="empty"):
        evaluate(LookupModel({}), frame([]))


def test_report_on_the_real_holdout_is_json(full_model, holdout):
    report = evaluate(full_model, holdout)
    assert json.loads(json.dumps(report)) == report
    assert report["overall"]["num_samples"] == 191
    assert sum(map(sum, report["confusion_matrix"])) == 191
    assert {"short_text", "transformers", "cnns"} <= set(report["slices"])
    assert all(scores["num_samples"] > 0 for scores in report["slices"].values())


def test_confusion_matrix_is_drawn_as_png(full_model, holdout):
    picture = confusion_matrix_png(evaluate(full_model, holdout))
    assert picture.startswith(b"\x89PNG\r\n\x1a\n") and len(picture) > 5_000


def test_behavioural_tests_pass_for_a_model_that_gets_every_case_right():
    table = {f"{base} {phrase}": tag for base, phrase, tag in DIRECTIONAL}
    table |= dict(MINIMUM_FUNCTIONALITY)
    result = behavioural_tests(LookupModel(table))
    total = len(INVARIANCE) + len(DIRECTIONAL) + len(MINIMUM_FUNCTIONALITY)
    assert result["passed"] == result["total"] == total and result["failures"] == []
    assert result["pass_rate"] == 1.0


def test_behavioural_tests_report_each_failure():
    first, changed = INVARIANCE[0]
    result = behavioural_tests(LookupModel({first: "mlops"}, default="other"))
    expected_other = sum(tag == "other" for _, _, tag in DIRECTIONAL) + sum(
        tag == "other" for _, tag in MINIMUM_FUNCTIONALITY
    )
    assert result["by_kind"]["invariance"] == {"passed": len(INVARIANCE) - 1, "failed": 1}
    assert result["passed"] == len(INVARIANCE) - 1 + expected_other
    assert result["failed"] == len(result["failures"]) == result["total"] - result["passed"]
    assert result["failures"][0] == {
        "kind": "invariance",
        "texts": [first, changed],
        "expected": "the same tag for all",
        "predicted": ["mlops", "other"],
    }


def test_the_default_model_passes_the_behavioural_tests(full_model, split_model):
    for model in (full_model, split_model):
        result = behavioural_tests(model)
        assert result["failures"] == [], result["failures"]
