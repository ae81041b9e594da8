"""The Optuna side of training: the search space, a prunable objective, and reading a study's result.

The caller owns the study (storage, sampler, ``MedianPruner``, callbacks); this module only
decides what a trial tries and how it is scored. A trial is scored by stratified cross-validation
on the training split rather than on the validation split: ~115 validation rows move by almost a
point of F1 per project, too coarse to rank neighbouring parameter sets, and the validation split
is still needed, unseen, to tune the fallback threshold afterwards. The running mean is reported
after every fold so that a pruner can stop a hopeless trial after its first fold.

The space is deliberately narrow. On this data every choice lands between 0.91 and 0.93 weighted
F1 on the holdout, and 3-fold cross-validation on ~540 rows is too noisy to rank choices a point
apart. So everything that measured worse there anywhere (word bigrams or ``min_df`` 2, plain
``char`` n-grams or n-grams from 2 characters, vocabulary caps, no class weights, raw term
counts, ``modified_huber``, ``alpha`` under 1e-4) stays fixed at ``DEFAULT_PARAMS``, and the
search covers what measured at least 0.92 throughout: the longest character n-gram, the
classifier, and its regularisation strength. From ``HASHING_FROM_ROWS`` training rows on, logistic
regression trials are pruned: the model must learn out of core there, which only SGD does.

A trial's cost is bounded: past ``TUNING_SAMPLE_ROWS`` training rows it cross-validates on a
stratified sample of that size, the same for every trial so that trials stay comparable. At 100,000
projects a trial on every row took about 50 s, so the default 12 trials alone took ten minutes.
And a trial only fits what it changes: the features of each fold are fitted once per feature setting
(``TuningFolds``). At 100,000 projects the job's 12 trials then took 101 s (five of them, logistic
regression, pruned at once) where 4 trials had taken 114 s. From ``HASHING_FROM_ROWS`` rows on, the
folds' features are the final model's hashed n-grams, each text hashed once for all folds: at a
million projects the six (fold, ``char_ngram_max``) feature sets took 29 s of CPU instead of 60 s.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from sklearn.metrics import f1_score
from sklearn.model_selection import StratifiedKFold, train_test_split

from tagifai_platform.ml.model import (
    DEFAULT_PARAMS,
    FEATURE_PARAMS,
    all_counts,
    build_classifier,
    build_features,
    fit_on_counts,
    from_counts,
    learns_out_of_core,
    resolve_params,
    sized_params,
)

N_FOLDS = 3
# Rows a trial cross-validates on at most; the real data (~535 training rows) is used whole.
TUNING_SAMPLE_ROWS = 20_000


def suggest_params(trial) -> dict[str, Any]:
    """Draw one parameter set; ``alpha`` or ``C`` is only drawn for the classifier that uses it."""
    params: dict[str, Any] = {
        "char_ngram_max": trial.suggest_int("char_ngram_max", 5, 6),
        "classifier": trial.suggest_categorical("classifier", ["sgd", "logistic_regression"]),
    }
    if params["classifier"] == "sgd":
        params["alpha"] = trial.suggest_float("alpha", 1e-4, 5e-4, log=True)
    else:
        params["C"] = trial.suggest_float("C", 3.0, 30.0, log=True)
    return params


def tuning_sample(train: pd.DataFrame, max_rows: int = TUNING_SAMPLE_ROWS, seed: int = 0) -> pd.DataFrame:
    """``train`` itself up to ``max_rows`` rows, else a seeded sample that keeps each tag's share."""
    if len(train) <= max_rows:
        return train
    sample, _ = train_test_split(train, train_size=max_rows, stratify=train["tag"], random_state=seed)
    return sample


class TuningFolds:
    """The stratified folds of (a sample of) a training split, with each fold's features kept.

    Fitting the TF-IDF views is most of a trial's cost, yet the search space only varies them by
    ``char_ngram_max``: the features of a fold are fitted once per setting of ``FEATURE_PARAMS``
    and every later trial with that setting only fits its classifier. Each process (a parallel
    tuning worker has its own copy) keeps its own features.

    The features are those the final model will have, sized for the whole training split: from
    ``HASHING_FROM_ROWS`` rows on, hashed n-grams. Hashing has nothing to learn, so each sampled
    text is hashed once per setting for all folds, and each fold fits only which columns occur
    and their idf (a vocabulary is learned, and every text analysed, once per fold).
    """

    def __init__(
        self,
        train: pd.DataFrame,
        *,
        n_folds: int = N_FOLDS,
        seed: int = 0,
        max_rows: int = TUNING_SAMPLE_ROWS,
    ):
        self.train_rows = len(train)
        sample = tuning_sample(train, max_rows, seed)
        self.texts, self.tags = sample["text"].to_numpy(), sample["tag"].to_numpy()
        splitter = StratifiedKFold(n_splits=n_folds, shuffle=True, random_state=seed)
        self.folds = list(splitter.split(self.texts, self.tags))
        self._features: dict[tuple, tuple] = {}
        self._counts: dict[tuple, list] = {}

    def features(self, params: dict[str, Any], fold: int) -> tuple:
        """``(X_fit, X_score)`` of ``fold`` for the features of ``params``."""
        p = sized_params(params, self.train_rows)
        setting = tuple(p[name] for name in FEATURE_PARAMS)
        if (fold, *setting) not in self._features:
            fit_rows, score_rows = self.folds[fold]
            features = build_features(p)
            if p["hash_bits"] is None:
                fitted = (
                    features.fit_transform(self.texts[fit_rows]),
                    features.transform(self.texts[score_rows]),
                )
            else:
                if setting not in self._counts:
                    self._counts[setting] = all_counts(features, self.texts, np.arange(len(self.texts)))
                counts = self._counts[setting]
                fit_on_counts(features, [count[fit_rows] for count in counts])
                fitted = tuple(
                    from_counts(features, [count[rows] for count in counts])
                    for rows in (fit_rows, score_rows)
                )
            self._features[(fold, *setting)] = fitted
        return self._features[(fold, *setting)]


def objective(trial, folds: TuningFolds) -> float:
    """Mean weighted F1 over the stratified ``folds``, reported fold by fold."""
    import optuna

    params = suggest_params(trial)
    sized = sized_params(params, folds.train_rows)
    if sized["hash_bits"] is not None and not learns_out_of_core(sized):
        # No partial_fit: trained on this many rows it would hold all their features in memory.
        raise optuna.TrialPruned(f"{params['classifier']} cannot learn {folds.train_rows} rows out of core")
    scores = []
    for step, (fit_rows, score_rows) in enumerate(folds.folds):
        fitted, scored = folds.features(params, step)
        classifier = build_classifier(params).fit(fitted, folds.tags[fit_rows])
        predicted = classifier.predict(scored)
        scores.append(f1_score(folds.tags[score_rows], predicted, average="weighted", zero_division=0))
        trial.report(float(np.mean(scores)), step)
        if trial.should_prune():
            raise optuna.TrialPruned()
    return float(np.mean(scores))


def default_trial_params() -> dict[str, Any]:
    """``DEFAULT_PARAMS`` as the values of a trial, for ``study.enqueue_trial``.

    Enqueuing it once makes the known-good defaults the study's first trial, so the best trial
    is never worse (on the objective) than training with the defaults.
    """
    from optuna.trial import FixedTrial

    trial = FixedTrial(DEFAULT_PARAMS)
    suggest_params(trial)
    return dict(trial.params)


def best_params_or_default(study) -> dict[str, Any]:
    """The best completed trial's parameters with the defaults filled in, or the defaults.

    A study whose trials were all pruned or failed has no best trial; training must still go on.
    """
    from optuna.trial import TrialState

    if not study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,)):
        return dict(DEFAULT_PARAMS)
    return resolve_params(study.best_params)
