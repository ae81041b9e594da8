"""The tagifai classifier: word and character TF-IDF into a linear model, with an ``other`` fallback.

Titles and descriptions are short and full of names (``YOLOv5``, ``BERTology``) that word
tokens miss but character n-grams catch, so both views are combined. The linear models keep a
trial to well under a second on the ~760 projects, which is what makes an Optuna search cheap.

The fallback is the one from Made With ML: a project the model is unsure about is more likely
to be about something it was never taught, so below ``threshold`` top-class probability the
prediction becomes ``other``. The threshold is tuned on validation data, never on training data,
where the model is always confident.

Hyperparameters are a flat dict of plain values so that Optuna can store them, MLflow can log
them and the same dict rebuilds the same pipeline.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from scipy import sparse
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.feature_extraction.text import HashingVectorizer, TfidfTransformer, TfidfVectorizer
from sklearn.feature_selection import VarianceThreshold
from sklearn.linear_model import LogisticRegression, SGDClassifier
from sklearn.metrics import f1_score
from sklearn.pipeline import FeatureUnion, Pipeline
from sklearn.utils.validation import check_is_fitted

from tagifai_platform.ml.splits import Splits
from tagifai_platform.ml.tagger import FALLBACK_TAG, apply_fallback, as_texts

TAGS = ("computer-vision", "natural-language-processing", "mlops", FALLBACK_TAG)
CLASSIFIERS = ("logistic_regression", "sgd")

# Fitted on all 764 labeled projects these reach 0.927 weighted F1 on the frozen holdout (0.921 to
# 0.932 over SGD seeds); word bigrams, plain "char" n-grams, no class weights or raw term counts
# each cost about a point there, which is why the search space in tuning.py leaves them fixed.
DEFAULT_PARAMS: dict[str, Any] = {
    "word_ngram_max": 1,
    "word_min_df": 1,
    "word_max_features": None,
    "char_analyzer": "char_wb",
    "char_ngram_min": 3,
    "char_ngram_max": 6,
    "char_min_df": 1,
    "char_max_features": None,
    "sublinear_tf": True,
    # None: each view learns its vocabulary; n: n-grams hashed into 2**n columns (see sized_params).
    "hash_bits": None,
    "class_weight": "balanced",
    "classifier": "sgd",
    "loss": "log_loss",
    "alpha": 1e-4,
    "C": 30.0,
    "random_state": 42,
}

# Four classes put the top probability at 0.25 or more, so the grid starts where it can bite;
# 0.0 stays in so that "no fallback" is always a candidate.
THRESHOLD_GRID = (0.0, *np.round(np.arange(0.25, 0.81, 0.05), 2).tolist())


# A vocabulary grows with the data: at a million projects it holds tens of millions of character
# n-grams, in memory while it is counted and in every saved model. Hashed n-grams take 2**HASH_BITS
# columns whatever the data. On the real data hashing reached 0.921 holdout F1 against the
# vocabulary's 0.927 with the default seed (one of 191 projects; both span 0.921 to 0.932 over SGD
# seeds), so small data keeps its vocabulary.
HASHING_FROM_ROWS = 50_000
HASH_BITS = 22
# Hashed features learn which columns occur, and their idf, from a stratified sample this size: at
# 100,000 projects, models on such a sample's features scored 0.921 to 0.927 holdout F1, as on every
# row's (0.927), for a fifth of the vectorizing.
FEATURE_SAMPLE_ROWS = 20_000
# Rows vectorized and learned from at a time: memory is bounded by one chunk, not by the data.
CHUNK_ROWS = 20_000


def resolve_params(params: Mapping[str, Any] | None) -> dict[str, Any]:
    """``DEFAULT_PARAMS`` overridden by ``params``; unknown names fail here rather than being ignored."""
    params = dict(params or {})
    unknown = sorted(set(params) - set(DEFAULT_PARAMS))
    if unknown:
        raise ValueError(f"unknown model parameters: {unknown}")
    resolved = {**DEFAULT_PARAMS, **params}
    if resolved["classifier"] not in CLASSIFIERS:
        raise ValueError(f"classifier must be one of {CLASSIFIERS}, got {resolved['classifier']!r}")
    return resolved


def sized_params(params: Mapping[str, Any] | None, rows: int) -> dict[str, Any]:
    """``params`` for fitting on ``rows`` texts: hashed n-grams from ``HASHING_FROM_ROWS`` rows on."""
    resolved = resolve_params(params)
    if rows >= HASHING_FROM_ROWS and resolved["hash_bits"] is None:
        resolved["hash_bits"] = HASH_BITS
    return resolved


def learns_out_of_core(params: Mapping[str, Any]) -> bool:
    """Whether a fit streams the rows through in chunks: hashed features and SGD, which learns by
    ``partial_fit``; logistic regression has no incremental fit and learns from all rows at once."""
    p = resolve_params(params)
    return p["hash_bits"] is not None and p["classifier"] == "sgd"


def _tfidf(p: Mapping[str, Any], view: str, **analyzer: Any) -> Pipeline | TfidfVectorizer:
    """One TF-IDF view of the text, over a learned vocabulary or hashed n-grams.

    Hashed n-grams keep only the columns that occur in the texts the view is fitted on (``seen``),
    like a vocabulary does. Without it an n-gram the model never learned lands in an empty column
    with the highest idf, and such n-grams most likely weigh heavily in each text's norm, shrinking
    the columns the model knows: at 100,000 projects hashing without it scored 0.911 holdout F1,
    with it 0.921 to 0.927, like the vocabulary.
    ``min_df`` and ``max_features`` need a vocabulary and do not apply to hashed n-grams.
    """
    if p["hash_bits"] is None:
        return TfidfVectorizer(
            min_df=p[f"{view}_min_df"],
            max_features=p[f"{view}_max_features"],
            sublinear_tf=p["sublinear_tf"],
            **analyzer,
        )
    counts = HashingVectorizer(
        n_features=2 ** p["hash_bits"], alternate_sign=False, norm=None, dtype=np.float32, **analyzer
    )
    return Pipeline(
        [
            ("counts", counts),
            ("seen", VarianceThreshold()),
            ("tfidf", TfidfTransformer(sublinear_tf=p["sublinear_tf"])),
        ]
    )


def build_features(params: Mapping[str, Any] | None = None) -> FeatureUnion:
    """The unfitted text -> features part of the pipeline: word and character TF-IDF side by side."""
    p = resolve_params(params)
    return FeatureUnion(
        [
            ("words", _tfidf(p, "word", ngram_range=(1, p["word_ngram_max"]))),
            (
                "chars",
                _tfidf(
                    p,
                    "char",
                    analyzer=p["char_analyzer"],
                    ngram_range=(p["char_ngram_min"], p["char_ngram_max"]),
                ),
            ),
        ]
    )


# The parameters build_features reads: models that agree on them compute the same features.
FEATURE_PARAMS = (
    "word_ngram_max",
    "word_min_df",
    "word_max_features",
    "char_analyzer",
    "char_ngram_min",
    "char_ngram_max",
    "char_min_df",
    "char_max_features",
    "sublinear_tf",
    "hash_bits",
)


def build_classifier(params: Mapping[str, Any] | None = None) -> LogisticRegression | SGDClassifier:
    """The unfitted features -> probabilities part of the pipeline."""
    p = resolve_params(params)
    if p["classifier"] == "logistic_regression":
        return LogisticRegression(C=p["C"], class_weight=p["class_weight"], solver="newton-cg", max_iter=1000)
    return SGDClassifier(
        loss=p["loss"], alpha=p["alpha"], class_weight=p["class_weight"], random_state=p["random_state"]
    )


def build_pipeline(params: Mapping[str, Any] | None = None) -> Pipeline:
    """The unfitted text -> probabilities pipeline for ``params`` (missing names take the defaults)."""
    return Pipeline([("features", build_features(params)), ("classifier", build_classifier(params))])


def char_wb_counts(counter: HashingVectorizer, texts: list[str]) -> sparse.csr_matrix:
    """``counter.transform(texts)`` for a ``char_wb`` counter, each distinct word hashed once.

    ``char_wb`` n-grams never cross a word boundary, so the counts of a text are the sum of the
    counts of its words: the distinct words of ``texts`` are hashed (by ``counter`` itself) and each
    text sums the rows of its words, a sparse product. The counts are the same to the last bit, and
    the model saved keeps the plain ``HashingVectorizer``. Generating each n-gram in Python is
    nearly all the cost of hashing, and words repeat: 20,000 synthetic projects hold 24,000
    distinct words, and hashing them took 1.7 s of CPU against 4.3 s for the texts (the 764 real
    projects hold 4,100, so on more varied texts the gain is smaller).
    """
    preprocess = counter.build_preprocessor()
    words: dict[str, int] = {}
    indptr, indices = [0], []
    for text in texts:
        indices.extend(words.setdefault(word, len(words)) for word in preprocess(text).split())
        indptr.append(len(indices))
    ones = np.ones(len(indices), dtype=counter.dtype)
    occurrences = sparse.csr_matrix((ones, indices, indptr), shape=(len(texts), len(words)))
    counts = occurrences @ counter.transform(list(words))
    counts.sum_duplicates()
    return counts


def _hash(counters: list[HashingVectorizer], texts: list[str]) -> list[Any]:
    return [
        char_wb_counts(counter, texts) if counter.analyzer == "char_wb" else counter.transform(texts)
        for counter in counters
    ]


def hashed_counts(features: FeatureUnion, texts: Any, chunks: list[np.ndarray]) -> Iterator[list[Any]]:
    """The n-gram counts of every view of ``features`` for each chunk of rows, in chunk order.

    Hashing the n-grams is nearly all the cost of vectorizing and needs no fitted state, so it runs
    in worker processes on every core, a chunk ahead of whoever consumes the counts.
    """
    from joblib import Parallel, cpu_count, delayed

    counters = [view.named_steps["counts"] for _, view in features.transformer_list]
    return Parallel(n_jobs=min(len(chunks), cpu_count()), return_as="generator")(
        delayed(_hash)(counters, [texts[row] for row in rows]) for rows in chunks
    )


def fit_on_counts(features: FeatureUnion, counts: list[Any]) -> FeatureUnion:
    """``features`` (hashed views) fitted on counts already hashed: what fitting them on the texts
    does, since the hashing step has nothing to learn."""
    for (_, view), count in zip(features.transformer_list, counts, strict=True):
        view[1:].fit(count)
    return features


def from_counts(features: FeatureUnion, counts: list[Any]) -> Any:
    """The features of rows whose counts are already hashed: ``features.transform`` after hashing."""
    parts = [
        view[1:].transform(count) for (_, view), count in zip(features.transformer_list, counts, strict=True)
    ]
    return sparse.hstack(parts, format="csr")


def _chunks(rows: np.ndarray, size: int) -> list[np.ndarray]:
    return [rows[start : start + size] for start in range(0, len(rows), size)]


def all_counts(features: FeatureUnion, texts: Any, rows: np.ndarray) -> list[Any]:
    """Each view's counts for ``rows``, in that order, hashed in parallel; a few chunks per core
    at least, so that a sample smaller than ``CHUNK_ROWS`` is hashed on every core too."""
    from joblib import cpu_count

    size = max(1, min(CHUNK_ROWS, -(-len(rows) // (2 * cpu_count()))))
    per_chunk = list(hashed_counts(features, texts, _chunks(rows, size)))
    return [sparse.vstack(view, format="csr") for view in zip(*per_chunk, strict=True)]


def feature_chunks(
    features: FeatureUnion, texts: list[str], order: np.ndarray
) -> Iterator[tuple[np.ndarray, Any]]:
    """``(rows, their features)`` for consecutive chunks of ``order``, the rows of each chunk sorted.

    The chunks are hashed in worker processes (``hashed_counts``) while this process turns the
    counts of the previous chunk into features and learns from them; only a few chunks are ever
    in memory.
    """
    chunks = [np.sort(rows) for rows in _chunks(order, CHUNK_ROWS)]
    for rows, counts in zip(chunks, hashed_counts(features, texts, chunks), strict=True):
        yield rows, from_counts(features, counts)


def _learn_out_of_core(
    params: Mapping[str, Any],
    texts: list[str],
    tags: np.ndarray,
    learners: Mapping[str, np.ndarray],
    keep: np.ndarray,
    seed: int = 0,
) -> tuple[FeatureUnion, dict[str, SGDClassifier], Any]:
    """One pass over ``texts``: features, and one SGD classifier per mask of ``learners``.

    The features learn their columns and idf from a stratified sample of the rows of the first
    learner; then every row is vectorized once, in shuffled chunks, and each classifier learns one
    epoch from its rows (at 100,000 projects one epoch scored what fitting to convergence did).
    ``balanced`` class weights are computed from each learner's tags, as ``fit`` would. Also
    returns the features of the rows of ``keep``, in row order.
    """
    from sklearn.model_selection import train_test_split
    from sklearn.utils.class_weight import compute_class_weight

    p = resolve_params(params)
    first = np.flatnonzero(next(iter(learners.values())))
    if len(first) > FEATURE_SAMPLE_ROWS:
        first, _ = train_test_split(
            first, train_size=FEATURE_SAMPLE_ROWS, stratify=tags[first], random_state=seed
        )
    features = build_features(p)
    fit_on_counts(features, all_counts(features, texts, first))
    classes = np.unique(tags)
    classifiers = {}
    for name, rows in learners.items():
        classifier = build_classifier(p)
        if p["class_weight"] == "balanced":
            weights = compute_class_weight("balanced", classes=np.unique(tags[rows]), y=tags[rows])
            classifier.set_params(class_weight=dict(zip(np.unique(tags[rows]), weights, strict=True)))
        classifiers[name] = classifier
    kept_rows, kept = [], []
    order = np.random.default_rng(seed).permutation(len(texts))
    for rows, X in feature_chunks(features, texts, order):
        for name, classifier in classifiers.items():
            chosen = learners[name][rows]
            if chosen.any():
                classifier.partial_fit(X[chosen], tags[rows][chosen], classes=classes)
        kept_rows.append(rows[keep[rows]])
        kept.append(X[keep[rows]])
    stacked = sparse.vstack(kept, format="csr")
    kept.clear()  # a third of the rows' features at most, but not twice
    return features, classifiers, stacked[np.argsort(np.concatenate(kept_rows))]


class TagClassifier(ClassifierMixin, BaseEstimator):
    """A scikit-learn classifier over raw texts: the pipeline of ``params`` plus the ``other`` fallback.

    The registry does not store this class: it stores ``pipeline_`` (plain scikit-learn, saved with
    skops) and ``threshold``, and :meth:`from_pipeline` puts them back together.
    """

    def __init__(self, params: Mapping[str, Any] | None = None, threshold: float = 0.0):
        self.params = params
        self.threshold = threshold

    @classmethod
    def from_pipeline(cls, pipeline: Pipeline, threshold: float, params: Mapping[str, Any]) -> TagClassifier:
        """The classifier around an already fitted ``pipeline``, as a registered model is loaded."""
        model = cls(params=dict(params), threshold=threshold)
        model.pipeline_ = pipeline
        model.classes_ = pipeline.classes_
        return model

    def fit(self, X: Any, y: Iterable[str]) -> TagClassifier:
        texts, tags = as_texts(X), np.asarray(list(y), dtype=object)
        if learns_out_of_core(self.params):
            every = np.ones(len(texts), dtype=bool)
            features, classifiers, _ = _learn_out_of_core(self.params, texts, tags, {"model": every}, ~every)
            self.pipeline_ = Pipeline([("features", features), ("classifier", classifiers["model"])])
        else:
            self.pipeline_ = build_pipeline(self.params).fit(texts, tags)
        self.classes_ = self.pipeline_.classes_
        return self

    def predict_proba(self, X: Any) -> np.ndarray:
        check_is_fitted(self)
        return self.pipeline_.predict_proba(as_texts(X))

    def predict(self, X: Any) -> np.ndarray:
        return apply_fallback(self.predict_proba(X), self.classes_, self.threshold)


def tune_threshold(
    model: TagClassifier,
    texts: Any,
    tags: Iterable[str],
    grid: Iterable[float] = THRESHOLD_GRID,
    min_gain: float | None = None,
    probabilities: np.ndarray | None = None,
) -> float:
    """The lowest threshold on ``grid`` whose weighted F1 is within ``min_gain`` of the best one's.

    Plain arg-max overfits a small validation set: on ~115 rows, thresholds that won there by a
    project or two lost up to two points of holdout F1. Fixing one project raises weighted F1 by
    a little over ``1 / len(tags)``, so the default ``min_gain`` of ``2 / len(tags)`` ignores a
    one-project win; ``min_gain=0`` is plain arg-max, with ties going to the lowest threshold.
    ``probabilities`` are the model's answers on ``texts`` when they are already known.
    """
    tags = list(tags)
    min_gain = 2 / len(tags) if min_gain is None else min_gain
    if probabilities is None:
        probabilities = model.predict_proba(texts)
    scores = {
        float(threshold): f1_score(
            tags,
            apply_fallback(probabilities, model.classes_, threshold),
            average="weighted",
            zero_division=0,
        )
        for threshold in grid
    }
    best = max(scores.values())
    return min(threshold for threshold, score in scores.items() if score >= best - min_gain)


def train_model(
    params: Mapping[str, Any] | None, train: pd.DataFrame, validation: pd.DataFrame
) -> TagClassifier:
    """Fit on ``train`` and tune the fallback threshold on ``validation``."""
    model = TagClassifier(params=sized_params(params, len(train))).fit(train["text"], train["tag"])
    model.threshold = tune_threshold(model, validation["text"], validation["tag"])
    return model


def refit(model: TagClassifier, frame: pd.DataFrame) -> TagClassifier:
    """The same parameters and threshold, fitted on ``frame``.

    Once the splits have chosen the parameters, measured the model and tuned its threshold, the
    model put in service learns from every labeled project: on ~760 projects the 30 % held out
    for validation and test cost about two points of holdout F1.
    """
    return TagClassifier(params=model.params, threshold=model.threshold).fit(frame["text"], frame["tag"])


@dataclass(frozen=True)
class Trained:
    """The candidate (fitted on the train split, threshold tuned on validation), its answers on the
    validation and test splits, and the model to serve: the same parameters and threshold refit on
    every row of the splits."""

    candidate: TagClassifier
    answers: dict[str, np.ndarray]
    model: TagClassifier


def train_and_refit(params: Mapping[str, Any] | None, splits: Splits) -> Trained:
    """What :func:`train_model` then :func:`refit` give, with each text vectorized once at scale.

    Out of core (hashed features and SGD, from ``HASHING_FROM_ROWS`` training rows on), the candidate
    and the refit model learn in the same pass over the rows and share the features learned from the
    train split's sample; the validation and test rows' features are kept from that pass for the
    candidate's answers. At a million projects vectorizing is nearly all the cost, and this way it
    is paid once instead of for the train split, the validation split twice, the test split, then
    every row again.
    """
    params = sized_params(params, len(splits.train))
    every = pd.concat([splits.train, splits.validation, splits.test], ignore_index=True)
    part = np.repeat([0, 1, 2], [len(splits.train), len(splits.validation), len(splits.test)])
    if learns_out_of_core(params):
        texts, tags = as_texts(every["text"]), every["tag"].astype(str).to_numpy(dtype=object)
        learners = {"candidate": part == 0, "model": np.ones(len(every), dtype=bool)}
        features, classifiers, held = _learn_out_of_core(params, texts, tags, learners, part > 0)
        candidate, model = (
            TagClassifier.from_pipeline(
                Pipeline([("features", features), ("classifier", classifiers[name])]), 0.0, params
            )
            for name in learners
        )
        probabilities = classifiers["candidate"].predict_proba(held)
        answers = {
            "validation": probabilities[: len(splits.validation)],
            "test": probabilities[len(splits.validation) :],
        }
    else:
        candidate = TagClassifier(params=params).fit(splits.train["text"], splits.train["tag"])
        answers = {
            name: candidate.predict_proba(getattr(splits, name)["text"]) for name in ("validation", "test")
        }
        model = None
    candidate.threshold = tune_threshold(
        candidate, splits.validation["text"], splits.validation["tag"], probabilities=answers["validation"]
    )
    if model is None:
        model = refit(candidate, every)
    model.threshold = candidate.threshold
    return Trained(candidate, answers, model)


def _fold_answers(
    params: Mapping[str, Any], fit_texts: np.ndarray, fit_tags: np.ndarray, held_texts: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    model = TagClassifier(params=params).fit(fit_texts, fit_tags)
    return model.classes_, model.predict_proba(held_texts)


def _hashed_fold_answers(
    params: Mapping[str, Any],
    texts: np.ndarray,
    tags: np.ndarray,
    splits: list[tuple[np.ndarray, np.ndarray]],
) -> list[tuple[np.ndarray, np.ndarray]]:
    """What ``_fold_answers`` gives for each fold with hashed features, every text hashed once.

    A vocabulary must be learned per fold, but hashing has nothing to learn: the counts of every
    row serve all the folds, and each fold fits only which columns occur, their idf and its
    classifier (to convergence, as on a vocabulary). Five folds then hash the rows once instead of
    five times (four fits and one answer each).
    """
    counts = all_counts(build_features(params), texts, np.arange(len(texts)))
    answers = []
    for fit_rows, held_rows in splits:
        features = fit_on_counts(build_features(params), [count[fit_rows] for count in counts])
        classifier = build_classifier(params).fit(
            from_counts(features, [count[fit_rows] for count in counts]), tags[fit_rows]
        )
        held = from_counts(features, [count[held_rows] for count in counts])
        answers.append((classifier.classes_, classifier.predict_proba(held)))
    return answers


# From this many rows the folds are fitted in worker processes, one per core: five folds of the
# monitoring baseline's 20,000 rows took 95 s one after another; a few hundred rows take less
# than starting the workers.
PARALLEL_FOLDS_FROM_ROWS = 5_000


def out_of_fold(
    params: Mapping[str, Any] | None, threshold: float, frame: pd.DataFrame, *, folds: int = 5, seed: int = 0
) -> pd.DataFrame:
    """Every row of ``frame`` answered by a model with ``params`` and ``threshold`` fitted on the other folds.

    What a model refit on all of ``frame`` would say about texts it has not seen, for each of them:
    ``text``, ``tag`` (the truth), ``predicted`` (fallback applied), ``fold`` and one probability
    column per class, named by the class. Stratified and seeded, so the same frame gives the same answers.
    """
    from joblib import Parallel, cpu_count, delayed
    from sklearn.model_selection import StratifiedKFold

    frame = frame.reset_index(drop=True)
    texts, tags = frame["text"].to_numpy(dtype=object), frame["tag"].astype(str).to_numpy(dtype=object)
    classes = sorted(set(tags))
    probabilities = np.zeros((len(frame), len(classes)))
    fold_of = np.zeros(len(frame), dtype=int)
    splits = list(StratifiedKFold(n_splits=folds, shuffle=True, random_state=seed).split(texts, tags))
    params = resolve_params(params)
    if params["hash_bits"] is not None:
        answers = _hashed_fold_answers(params, texts, tags, splits)
    else:
        jobs = min(folds, cpu_count()) if len(frame) >= PARALLEL_FOLDS_FROM_ROWS else 1
        answers = Parallel(n_jobs=jobs)(
            delayed(_fold_answers)(params, texts[fit_rows], tags[fit_rows], texts[held_rows])
            for fit_rows, held_rows in splits
        )
    for fold, ((_, held_rows), (labels, answered)) in enumerate(zip(splits, answers, strict=True)):
        columns = [classes.index(str(label)) for label in labels]
        probabilities[np.ix_(held_rows, columns)] = answered
        fold_of[held_rows] = fold
    predicted = apply_fallback(probabilities, np.asarray(classes), threshold)
    return pd.DataFrame(
        {
            "text": frame["text"],
            "tag": frame["tag"].astype(str),
            "predicted": [str(tag) for tag in predicted],
            "fold": fold_of,
            **{label: probabilities[:, i] for i, label in enumerate(classes)},
        }
    )


def predict(model: TagClassifier, texts: Any) -> list[dict[str, Any]]:
    """Tag and per-tag probabilities for each text, as plain JSON-ready values."""
    texts = as_texts(texts)
    probabilities = model.predict_proba(texts)
    tags = apply_fallback(probabilities, model.classes_, model.threshold)
    return [
        {
            "text": text,
            "tag": str(tag),
            "probabilities": {str(label): float(p) for label, p in zip(model.classes_, row, strict=True)},
        }
        for text, tag, row in zip(texts, tags, probabilities, strict=True)
    ]
