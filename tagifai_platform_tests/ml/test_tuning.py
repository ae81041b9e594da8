import optuna
import pytest
from optuna.trial import FixedTrial, TrialState

from tagifai_platform.ml.model import DEFAULT_PARAMS, build_pipeline, resolve_params
from tagifai_platform.ml.tuning import (
    N_FOLDS,
    TuningFolds,
    best_params_or_default,
    default_trial_params,
    objective,
    suggest_params,
    tuning_sample,
)

optuna.logging.set_verbosity(optuna.logging.WARNING)


def test_the_defaults_are_a_point_of_the_search_space():
    params = default_trial_params()
    assert params and all(DEFAULT_PARAMS[name] == value for name, value in params.items())
    assert suggest_params(FixedTrial(params)) == params


def test_each_classifier_draws_only_its_own_regularisation():
    base = default_trial_params()
    sgd = suggest_params(FixedTrial({**base, "classifier": "sgd", "alpha": 1e-4}))
    logistic = suggest_params(FixedTrial({**base, "classifier": "logistic_regression", "C": 10.0}))
    assert "alpha" in sgd and "C" not in sgd
    assert "C" in logistic and "alpha" not in logistic


def test_three_trials_give_params_the_model_builder_accepts(splits):
    study = optuna.create_study(
        direction="maximize",
        sampler=optuna.samplers.TPESampler(seed=0),
        pruner=optuna.pruners.MedianPruner(n_startup_trials=1, n_warmup_steps=1),
    )
    study.enqueue_trial(default_trial_params())
    study.optimize(lambda trial: objective(trial, TuningFolds(splits.train)), n_trials=3)

    first = study.trials[0]
    assert first.params == default_trial_params() and first.state == TrialState.COMPLETE
    assert sorted(first.intermediate_values) == list(range(N_FOLDS))
    assert 0.8 < first.value <= 1.0
    params = best_params_or_default(study)
    assert params == resolve_params(study.best_params)
    build_pipeline(params)


def test_a_pruner_stops_a_trial_after_its_first_fold(splits):
    study = optuna.create_study(direction="maximize", pruner=optuna.pruners.ThresholdPruner(lower=0.999))
    study.optimize(lambda trial: objective(trial, TuningFolds(splits.train)), n_trials=1)
    (trial,) = study.trials
    assert trial.state == TrialState.PRUNED
    assert list(trial.intermediate_values) == [0]
    assert best_params_or_default(study) == DEFAULT_PARAMS


def test_an_empty_study_falls_back_to_the_defaults():
    assert best_params_or_default(optuna.create_study(direction="maximize")) == DEFAULT_PARAMS


@pytest.mark.parametrize("n_folds", [2, 4])
def test_objective_reports_once_per_fold(splits, n_folds):
    trial = FixedTrial(default_trial_params())
    reported = []
    trial.report = lambda value, step: reported.append((step, value))
    value = objective(trial, TuningFolds(splits.train, n_folds=n_folds))
    assert [step for step, _ in reported] == list(range(n_folds))
    assert reported[-1][1] == pytest.approx(value)


def test_a_large_training_split_is_tuned_on_a_stratified_sample(splits):
    train = splits.train
    assert tuning_sample(train, max_rows=len(train)) is train, "the real data is used whole"
    sample = tuning_sample(train, max_rows=200, seed=1)
    assert len(sample) == 200 and sample.index.isin(train.index).all()
    shares = sample["tag"].value_counts(normalize=True)
    assert (shares - train["tag"].value_counts(normalize=True)).abs().max() < 0.02
    assert sample.equals(tuning_sample(train, max_rows=200, seed=1)), "every trial sees the same rows"
    trial = FixedTrial(default_trial_params())
    assert 0 < objective(trial, TuningFolds(splits.train, max_rows=200)) <= 1


def test_trials_reuse_the_features_of_their_setting(splits):
    """A fold's features are fitted once per feature setting: trials that only change the
    classifier reuse them, and a different ``char_ngram_max`` gets its own."""
    folds = TuningFolds(splits.train)
    base = default_trial_params()
    sgd = {**base, "classifier": "sgd", "alpha": 2e-4}
    logistic = {
        k: v for k, v in {**base, "classifier": "logistic_regression", "C": 10.0}.items() if k != "alpha"
    }
    objective(FixedTrial(sgd), folds)
    first = [folds.features(sgd, fold) for fold in range(N_FOLDS)]
    assert all(folds.features(logistic, fold) is first[fold] for fold in range(N_FOLDS))
    other = {**sgd, "char_ngram_max": 5 if sgd["char_ngram_max"] == 6 else 6}
    assert folds.features(other, 0) is not first[0]
    fitted, scored = first[0]
    fit_rows, score_rows = folds.folds[0]
    assert fitted.shape[0] == len(fit_rows) and scored.shape[0] == len(score_rows)
    assert objective(FixedTrial(logistic), folds) > 0.8


def test_at_scale_only_classifiers_that_learn_out_of_core_are_tried(splits, monkeypatch):
    from tagifai_platform.ml import model

    monkeypatch.setattr(model, "HASHING_FROM_ROWS", len(splits.train))
    folds = TuningFolds(splits.train)
    study = optuna.create_study(direction="maximize")
    base = default_trial_params()
    study.enqueue_trial(
        {"char_ngram_max": base["char_ngram_max"], "classifier": "logistic_regression", "C": 10.0}
    )
    study.enqueue_trial(base)
    study.optimize(lambda trial: objective(trial, folds), n_trials=2)
    assert [trial.state for trial in study.trials] == [TrialState.PRUNED, TrialState.COMPLETE]
    assert best_params_or_default(study)["classifier"] == "sgd"


def test_at_scale_folds_get_the_hashed_features_of_fitting_each_fold_on_its_texts(splits, monkeypatch):
    """From HASHING_FROM_ROWS rows on, trials are scored on the hashed features the final model
    will have; the texts are hashed once for all folds, and each fold's features are still those
    of fitting them on the fold's texts."""
    from tagifai_platform.ml import model

    monkeypatch.setattr(model, "HASHING_FROM_ROWS", len(splits.train))
    folds = TuningFolds(splits.train)
    params = default_trial_params()
    sized = model.sized_params(params, len(splits.train))
    assert sized["hash_bits"] is not None
    for fold, (fit_rows, score_rows) in enumerate(folds.folds):
        fitted, scored = folds.features(params, fold)
        features = model.build_features(sized).fit(folds.texts[fit_rows])
        assert abs(fitted - features.transform(folds.texts[fit_rows])).max() < 1e-6
        assert abs(scored - features.transform(folds.texts[score_rows])).max() < 1e-6
    assert objective(FixedTrial(params), folds) > 0.8
