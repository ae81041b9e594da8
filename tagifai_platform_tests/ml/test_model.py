import copy
import json
import pickle

import cloudpickle
import numpy as np
import pandas as pd
import pytest
from sklearn.base import clone
from sklearn.exceptions import NotFittedError
from sklearn.metrics import f1_score

from tagifai_platform.ml import model as model_module
from tagifai_platform.ml.model import (
    DEFAULT_PARAMS,
    FALLBACK_TAG,
    HASH_BITS,
    TagClassifier,
    apply_fallback,
    as_texts,
    build_pipeline,
    learns_out_of_core,
    out_of_fold,
    predict,
    refit,
    sized_params,
    train_and_refit,
    train_model,
    tune_threshold,
)
from tagifai_platform.ml.splits import split_dataset

CLASSES = np.array(["computer-vision", "mlops", "natural-language-processing", "other"])


class FixedProbabilities:
    """Stands in for a fitted model whose probabilities are known in advance."""

    classes_ = CLASSES

    def __init__(self, probabilities):
        self.probabilities = np.asarray(probabilities, dtype=float)

    def predict_proba(self, texts):
        assert len(texts) == len(self.probabilities)
        return self.probabilities


def test_unknown_parameters_and_classifiers_are_refused():
    with pytest.raises(ValueError, match="unknown model parameters: \\['n_gram'\\]"):
        build_pipeline({"n_gram": 3})
    with pytest.raises(ValueError, match="classifier must be one of"):
        build_pipeline({"classifier": "svm"})


@pytest.mark.parametrize(
    "params",
    [
        {"classifier": "logistic_regression", "C": 10.0},
        {"classifier": "sgd", "loss": "log_loss"},
        {"classifier": "sgd", "loss": "modified_huber", "alpha": 1e-3},
    ],
)
def test_every_classifier_gives_probabilities(splits, params):
    model = TagClassifier(params).fit(splits.train["text"], splits.train["tag"])
    probabilities = model.predict_proba(splits.validation["text"])
    assert probabilities.shape == (len(splits.validation), 4)
    assert np.allclose(probabilities.sum(axis=1), 1.0)
    assert list(model.classes_) == list(CLASSES)


def test_missing_parameters_take_the_defaults():
    pipeline = build_pipeline({"char_ngram_max": 4})
    chars = pipeline.named_steps["features"].transformer_list[1][1]
    assert chars.ngram_range == (DEFAULT_PARAMS["char_ngram_min"], 4)
    assert chars.analyzer == DEFAULT_PARAMS["char_analyzer"]


def test_low_confidence_becomes_other_and_threshold_zero_changes_nothing():
    probabilities = np.array([[0.7, 0.1, 0.1, 0.1], [0.4, 0.3, 0.2, 0.1], [0.1, 0.2, 0.3, 0.4]])
    assert apply_fallback(probabilities, CLASSES, 0.5).tolist() == ["computer-vision", "other", "other"]
    assert apply_fallback(probabilities, CLASSES, 0.0).tolist() == [
        "computer-vision",
        "computer-vision",
        "other",
    ]
    # a top probability equal to the threshold is confident enough
    assert apply_fallback(probabilities, CLASSES, 0.4).tolist() == [
        "computer-vision",
        "computer-vision",
        "other",
    ]


def test_threshold_applies_to_a_fitted_model(full_model, holdout):
    texts = holdout["text"]
    argmax = full_model.classes_[full_model.predict_proba(texts).argmax(axis=1)]
    assert full_model.threshold == 0.0
    assert (full_model.predict(texts) == argmax).all()
    everything_unsure = copy.deepcopy(full_model).set_params(threshold=1.01)
    assert set(everything_unsure.predict(texts)) == {FALLBACK_TAG}


def test_tuning_takes_a_threshold_that_clearly_helps():
    # three unsure rows that really are "other": a threshold above 0.4 fixes all three
    probabilities = [[0.9, 0.05, 0.03, 0.02]] * 5 + [[0.4, 0.3, 0.2, 0.1]] * 3
    tags = ["computer-vision"] * 5 + ["other"] * 3
    assert (
        tune_threshold(FixedProbabilities(probabilities), [""] * 8, tags, grid=(0.0, 0.3, 0.45, 0.6)) == 0.45
    )


def test_tuning_ignores_a_gain_of_one_project_unless_told_otherwise():
    # one unsure row really is "other": a threshold above 0.5 fixes it, and only it
    probabilities = [[0.9, 0.05, 0.03, 0.02]] * 8 + [[0.5, 0.3, 0.1, 0.1]] + [[0.1, 0.1, 0.1, 0.7]] * 3
    tags = ["computer-vision"] * 8 + ["other"] * 4
    model, texts, grid = FixedProbabilities(probabilities), [""] * 12, (0.0, 0.3, 0.55, 0.8)
    f1 = {
        t: f1_score(tags, apply_fallback(model.probabilities, CLASSES, t), average="weighted") for t in grid
    }
    assert f1[0.55] == f1[0.8] == 1.0 and f1[0.0] == f1[0.3] < 1.0
    assert tune_threshold(model, texts, tags, grid=grid) == 0.0
    assert tune_threshold(model, texts, tags, grid=grid, min_gain=0.0) == 0.55


def test_train_model_tunes_a_threshold_on_validation(split_model, splits):
    assert split_model.threshold in (0.0, *np.round(np.arange(0.25, 0.81, 0.05), 2))
    assert split_model.threshold == tune_threshold(
        split_model, splits.validation["text"], splits.validation["tag"]
    )
    assert split_model.params == {**DEFAULT_PARAMS}


@pytest.mark.parametrize(
    "given, expected",
    [
        ("one text", ["one text"]),
        (["a", "b"], ["a", "b"]),
        (pd.Series(["a", "b"]), ["a", "b"]),
        (np.array([["a"], ["b"]]), ["a", "b"]),
        (pd.DataFrame({"id": [1, 2], "text": ["a", "b"]}), ["a", "b"]),
        (pd.DataFrame({0: ["a", "b"]}), ["a", "b"]),
    ],
)
def test_texts_come_out_of_every_input_shape(given, expected):
    assert as_texts(given) == expected


def test_a_frame_without_text_is_refused():
    with pytest.raises(ValueError, match="'text' column"):
        as_texts(pd.DataFrame({"title": ["a"], "description": ["b"]}))


def test_predict_gives_json_ready_tags_and_probabilities(split_model):
    texts = ["Object detection with YOLO on drone footage.", "Fine-tuning BERT for question answering."]
    answers = predict(split_model, texts)
    assert json.loads(json.dumps(answers)) == answers
    assert [answer["text"] for answer in answers] == texts
    assert [answer["tag"] for answer in answers] == ["computer-vision", "natural-language-processing"]
    for answer in answers:
        assert set(answer["probabilities"]) == set(CLASSES)
        assert sum(answer["probabilities"].values()) == pytest.approx(1.0)


@pytest.mark.parametrize("module", [pickle, cloudpickle])
def test_the_model_survives_pickling(split_model, holdout, module):
    restored = module.loads(module.dumps(split_model))
    assert restored.threshold == split_model.threshold
    assert (restored.predict(holdout["text"]) == split_model.predict(holdout["text"])).all()
    assert np.allclose(restored.predict_proba(holdout), split_model.predict_proba(holdout))


def test_default_model_reaches_the_quality_bar_on_holdout(full_model, holdout):
    """DEFAULT_PARAMS fitted on all labeled projects: weighted F1 on the frozen holdout >= 0.92."""
    f1 = f1_score(holdout["tag"], full_model.predict(holdout["text"]), average="weighted")
    assert f1 >= 0.92, f1


def test_pipeline_model_clears_the_promotion_floor_on_holdout(split_model, holdout):
    """Trained as the pipeline does (train split, threshold from validation), well above the 0.85 floor."""
    f1 = f1_score(holdout["tag"], split_model.predict(holdout["text"]), average="weighted")
    assert f1 >= 0.88, f1


@pytest.fixture(scope="module")
def synthetic_splits(dataset_dir):
    """3,000 synthetic projects recombined from the real ones, split as the pipeline splits."""
    from tagifai_platform.data.sources import read_projects, read_tags
    from tagifai_platform.data.synthetic import synthesize
    from tagifai_platform.data.transform import label_projects

    projects = read_projects(str(dataset_dir / "projects.csv"))
    batch = synthesize(projects, read_tags(str(dataset_dir / "tags.csv"), projects), n=3_000, seed=5)
    labeled = label_projects(batch.projects, batch.tags)
    return split_dataset(labeled, seed=1234, validation_fraction=0.15, test_fraction=0.15)


@pytest.fixture
def small_scale(monkeypatch):
    """What happens from a million rows on, at a few thousand: the hashed, chunked, sampled path
    with several chunks (so worker processes hash them) and a sample smaller than the data."""
    monkeypatch.setattr(model_module, "HASHING_FROM_ROWS", 1_000)
    monkeypatch.setattr(model_module, "CHUNK_ROWS", 700)
    monkeypatch.setattr(model_module, "FEATURE_SAMPLE_ROWS", 1_500)


def test_large_data_hashes_its_n_grams_and_learns_out_of_core(small_scale, synthetic_splits, holdout):
    """From HASHING_FROM_ROWS rows on, the n-grams are hashed and SGD learns chunk by chunk (memory
    fixed whatever the data); the hashed columns kept are those its sample saw, and it tags the real
    holdout about as well as the vocabulary's model does."""
    train = synthetic_splits.train
    assert sized_params({}, 999)["hash_bits"] is None
    params = sized_params({"alpha": 2e-4}, len(train))
    assert params["hash_bits"] == HASH_BITS and learns_out_of_core(params)
    assert not learns_out_of_core({**params, "classifier": "logistic_regression"})
    hashed = TagClassifier(params).fit(train["text"], train["tag"])
    words, chars = (view for _, view in hashed.pipeline_.named_steps["features"].transformer_list)
    assert chars.named_steps["counts"].n_features == 2**HASH_BITS
    assert chars.named_steps["counts"].ngram_range == (3, 6)
    kept = chars.named_steps["seen"].get_support().sum()
    assert 0 < kept < 2**HASH_BITS / 10, "only the columns of n-grams the sample saw"
    classifier = hashed.pipeline_.named_steps["classifier"]
    assert isinstance(classifier.class_weight, dict), "balanced weights, computed for partial_fit"
    assert classifier.t_ == pytest.approx(len(train) + 1), "one pass over every row"
    f1 = f1_score(holdout["tag"], hashed.predict(holdout["text"]), average="weighted")
    assert f1 >= 0.88, f1


def test_out_of_core_candidate_and_served_model_share_one_pass(small_scale, synthetic_splits):
    trained = train_and_refit(None, synthetic_splits)
    candidate, served = trained.candidate, trained.model
    assert served.pipeline_.named_steps["features"] is candidate.pipeline_.named_steps["features"]
    rows = {name: len(part) for name, part in synthetic_splits.as_dict().items()}
    assert candidate.pipeline_.named_steps["classifier"].t_ == pytest.approx(rows["train"] + 1)
    assert served.pipeline_.named_steps["classifier"].t_ == pytest.approx(sum(rows.values()) + 1)
    for name in ("validation", "test"):  # the features kept from the pass are those of these rows, in order
        texts = getattr(synthetic_splits, name)["text"]
        np.testing.assert_allclose(
            trained.answers[name], candidate.predict_proba(texts), rtol=1e-5, atol=1e-6
        )
    assert (
        served.threshold
        == candidate.threshold
        == tune_threshold(candidate, synthetic_splits.validation["text"], synthetic_splits.validation["tag"])
    )
    assert served.params == candidate.params


def test_small_data_trains_and_refits_as_before(splits):
    trained = train_and_refit(DEFAULT_PARAMS, splits)
    candidate = train_model(DEFAULT_PARAMS, splits.train, splits.validation)
    served = refit(candidate, pd.concat(splits.as_dict().values(), ignore_index=True))
    assert trained.candidate.threshold == trained.model.threshold == candidate.threshold
    np.testing.assert_allclose(
        trained.answers["test"], candidate.predict_proba(splits.test["text"]), rtol=1e-6
    )
    texts = splits.test["text"]
    np.testing.assert_allclose(trained.model.predict_proba(texts), served.predict_proba(texts), rtol=1e-6)


def test_clone_keeps_params_and_threshold_and_drops_the_fit(split_model):
    fresh = clone(split_model)
    assert fresh.get_params() == split_model.get_params()
    assert not hasattr(fresh, "pipeline_")


def test_an_unfitted_model_says_so():
    with pytest.raises(NotFittedError):
        TagClassifier().predict(["a text"])


def test_out_of_fold_answers_the_same_in_worker_processes(labeled, monkeypatch):
    """Large frames fit their folds in parallel; the answers are those of fitting them in turn."""
    frame = labeled.head(400)
    in_turn = out_of_fold(DEFAULT_PARAMS, 0.3, frame, folds=3)
    monkeypatch.setattr(model_module, "PARALLEL_FOLDS_FROM_ROWS", 0)
    pd.testing.assert_frame_equal(out_of_fold(DEFAULT_PARAMS, 0.3, frame, folds=3), in_turn)


def test_hashed_out_of_fold_answers_as_fitting_each_fold_on_its_texts(synthetic_splits):
    """With hashed features every text is hashed once for all folds; each fold's answers are still
    those of the whole pipeline fitted on that fold's texts."""
    from sklearn.model_selection import StratifiedKFold

    frame = synthetic_splits.train.head(1_200)
    params = {**DEFAULT_PARAMS, "hash_bits": 18}
    oof = out_of_fold(params, 0.3, frame, folds=3)
    texts, tags = frame["text"].to_numpy(dtype=object), frame["tag"].to_numpy(dtype=object)
    folds = StratifiedKFold(n_splits=3, shuffle=True, random_state=0).split(texts, tags)
    for fold, (fit_rows, held_rows) in enumerate(folds):
        assert (oof["fold"].to_numpy()[held_rows] == fold).all()
        pipeline = build_pipeline(params).fit(texts[fit_rows], tags[fit_rows])
        np.testing.assert_allclose(
            oof.loc[held_rows, list(pipeline.classes_)].to_numpy(),
            pipeline.predict_proba(texts[held_rows]),
            rtol=1e-5,
            atol=1e-6,
        )


def test_char_wb_counts_from_distinct_words_are_those_of_the_texts(labeled):
    """Hashing each distinct word once gives the counts of hashing every text, to the last bit."""
    from sklearn.feature_extraction.text import HashingVectorizer

    texts = [
        *labeled["text"].head(300),
        "",
        "A  b\tC\n\nd  ",
        "Ünïcödé ÉTÉ été",
        "an a I",
        "YOLOv5: x-ray!",
    ]
    counter = HashingVectorizer(
        analyzer="char_wb", ngram_range=(3, 6), n_features=2**18, alternate_sign=False, norm=None
    )
    expected, counted = counter.transform(texts), model_module.char_wb_counts(counter, texts)
    assert counted.shape == expected.shape and counted.dtype == expected.dtype
    assert (counted != expected).nnz == 0
