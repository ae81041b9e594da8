"""The `tagifai` command as a user runs it: before any model, then after the end-to-end job."""

import csv
import json
from pathlib import Path

import pytest

from tagifai_platform_tests.e2e.conftest import run

CV_TEXT = "YOLO object detection: real-time bounding boxes for images and video with convolutional networks"


def test_predict_and_evaluate_say_clearly_that_there_is_no_champion(home_env, tmp_path, dataset_dir):
    for command in (
        ["tagifai", "predict", CV_TEXT],
        ["tagifai", "evaluate", str(dataset_dir / "holdout.csv")],
    ):
        result = run(command, home_env, cwd=tmp_path)
        assert result.returncode == 1 and "No champion model yet" in result.stderr
        assert "Traceback" not in result.stderr


def test_predict_prints_the_champions_tag_and_probabilities(trained_home):
    env, root = trained_home
    result = run(
        ["tagifai", "predict", CV_TEXT, "Fine-tuning BERT transformers for text classification"],
        env,
        cwd=root,
    )
    assert result.returncode == 0, result.stderr
    answer = json.loads(result.stdout)
    assert answer["model_version"] == 1
    first, second = answer["predictions"]
    assert first["tag"] == "computer-vision" and second["tag"] == "natural-language-processing"
    assert sum(first["probabilities"].values()) == pytest.approx(1.0)


def test_evaluate_scores_the_champion_on_a_labeled_csv(trained_home, dataset_dir):
    env, root = trained_home
    result = run(["tagifai", "evaluate", str(dataset_dir / "holdout.csv")], env, cwd=root)
    assert result.returncode == 0, result.stderr
    answer = json.loads(result.stdout)
    assert answer["rows"] == 191 and answer["overall"]["f1"] >= 0.85
    assert {"precision", "recall", "f1"} <= set(answer["overall"])
    assert set(answer["per_class"]) == {"computer-vision", "natural-language-processing", "mlops", "other"}


def test_evaluate_refuses_a_file_without_labels(trained_home, dataset_dir):
    env, root = trained_home
    result = run(["tagifai", "evaluate", str(dataset_dir / "projects.csv")], env, cwd=root)
    assert result.returncode == 1 and "missing columns ['tag']" in result.stderr


def test_predict_refuses_a_blank_text(home_env, tmp_path):
    result = run(["tagifai", "predict", CV_TEXT, " "], home_env, cwd=tmp_path)
    assert result.returncode == 1 and "empty or whitespace-only text (argument 2)" in result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize(
    "edit, message",
    [
        (lambda rows: rows[:1], "it has a header but no rows"),
        (lambda rows: [rows[0], rows[1][:-1] + ["compter-vision"], *rows[2:]], "unknown tags compter-vision"),
        (lambda rows: [rows[0], rows[1][:-1] + [""], *rows[2:]], "rows without a tag (file lines 2)"),
        (lambda rows: [*rows, rows[3]], "appear more than once"),
    ],
    ids=["header only", "misspelled tag", "empty tag", "duplicated row"],
)
def test_evaluate_refuses_a_file_whose_labels_would_skew_the_scores(
    home_env, tmp_path, dataset_dir, edit, message
):
    rows = list(csv.reader((dataset_dir / "holdout.csv").open()))
    edited = tmp_path / "labeled.csv"
    with edited.open("w", newline="") as sink:
        csv.writer(sink).writerows(edit(rows))
    result = run(["tagifai", "evaluate", str(edited)], home_env, cwd=tmp_path)
    assert result.returncode == 1 and message in result.stderr, result.stderr
    assert "Traceback" not in result.stderr


def test_a_champion_whose_files_are_gone_is_one_clear_line(trained_home):
    env, root = trained_home
    models = Path(env["TAGIFAI_HOME"]) / "mlflow" / "artifacts" / "models"
    models.rename(models.with_name("moved-away"))
    try:
        result = run(["tagifai", "predict", CV_TEXT], env, cwd=root)
    finally:
        models.with_name("moved-away").rename(models)
    assert result.returncode == 1
    assert (
        result.stderr.startswith("tagifai: The champion (version 1") and len(result.stderr.splitlines()) == 1
    )
