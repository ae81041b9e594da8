"""The data set a retraining learns from: everything known so far plus what annotators just labeled.

Old rows stay (dropping them makes the model forget classes that are quiet this month), new ones
win where they relabel the same id, and whatever would mislead the model or the evaluation is
removed: texts labeled two ways, repeats, and anything in the frozen holdout (by id or by text: an
annotated request carrying a holdout project's text is that project under another id). The most recent new
rows are set aside as a ``recent_eval`` slice, because a retrain prompted by drift must be shown
to work on the drifted traffic, which the holdout predates.

Rebalancing and augmentation add rows that copy or perturb an original one and keep its id; they
belong in training only, which ``assign_splits`` enforces.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd

from tagifai_platform.data.schema import LABELED_COLUMNS
from tagifai_platform.data.transform import holdout_overlap, tag_distribution
from tagifai_platform.ml.splits import split_dataset

RECENT_EVAL = "recent_eval"
ORIGINAL, UPSAMPLED, AUGMENTED = "original", "upsampled", "augmented"
DATASET_COLUMNS = [*LABELED_COLUMNS, "source", "origin", "split_hint"]


def perturb(text: str, rng: np.random.Generator, dropout: float = 0.1) -> str:
    """Drop each word with probability ``dropout`` (keeping at least two) and swap one adjacent pair."""
    words = text.split()
    kept = [word for word in words if rng.random() >= dropout]
    words = kept if len(kept) >= 2 else words
    if len(words) >= 2:
        i = int(rng.integers(len(words) - 1))
        words[i], words[i + 1] = words[i + 1], words[i]
    return " ".join(words)


def upsample(train: pd.DataFrame, rng: np.random.Generator, balance_ratio: float) -> pd.DataFrame:
    """Copies of random rows of each class smaller than ``balance_ratio`` of the largest, up to that size.

    Towards a fraction rather than all the way up, so that a class of 60 does not become 300
    copies of the same 60 texts.
    """
    counts = train["tag"].value_counts()
    target = math.ceil(balance_ratio * counts.max()) if len(counts) else 0
    copies = [
        train.loc[rng.choice(train.index[train["tag"] == tag], size=target - n, replace=True)]
        for tag, n in sorted(counts.items())
        if n < target
    ]
    return pd.concat(copies).assign(origin=UPSAMPLED) if copies else train.iloc[:0]


def augment_rows(train: pd.DataFrame, rng: np.random.Generator) -> pd.DataFrame:
    """One perturbed copy of each row, skipping those that came out as a text already present."""
    perturbed = train.assign(text=[perturb(text, rng) for text in train["text"]], origin=AUGMENTED)
    return perturbed[~perturbed["text"].isin(train["text"])].drop_duplicates(subset=["text"])


def compose_retraining_dataset(
    previous: pd.DataFrame,
    new_labeled: pd.DataFrame,
    *,
    holdout: pd.DataFrame,
    seed: int,
    rebalance: bool = True,
    augment: bool = False,
    recent_fraction: float = 0.2,
    balance_ratio: float = 0.5,
) -> tuple[pd.DataFrame, dict[str, Any]]:
    """The retraining data set (``DATASET_COLUMNS``) and a report counting every step.

    ``source`` says whether a row was ``previous`` or ``new``, ``origin`` whether it is an
    ``original``, ``upsampled`` or ``augmented`` row, and ``split_hint`` is ``recent_eval`` for
    the most recent ``recent_fraction`` of the new rows (by ``created_on``), which are never
    copied nor perturbed. Deduplication keeps a new row over a previous one, then the latest.
    The report's class counts are of the rows left for training (all but the recent slice),
    before and after rebalancing and augmentation.
    """
    rng = np.random.default_rng(seed)
    previous = previous[LABELED_COLUMNS].assign(source="previous")
    new = new_labeled[LABELED_COLUMNS].assign(source="new")
    combined = pd.concat([previous, new], ignore_index=True).assign(
        created_on=lambda frame: pd.to_datetime(frame["created_on"])
    )
    by_id = combined.drop_duplicates(subset=["id"], keep="last")

    in_holdout = by_id.index.isin(holdout_overlap(by_id, holdout).index)
    outside = by_id[~in_holdout]
    tags_per_text = outside.groupby("text")["tag"].nunique()
    conflicting = outside["text"].isin(tags_per_text.index[tags_per_text > 1])
    consistent = outside[~conflicting]
    deduplicated = (
        consistent.assign(is_new=consistent["source"] == "new")
        .sort_values(["is_new", "created_on"], kind="stable")
        .drop_duplicates(subset=["text"], keep="last")
    )
    originals = deduplicated.assign(origin=ORIGINAL, split_hint=None)

    new_rows = originals[originals["source"] == "new"].sort_values("created_on", kind="stable")
    recent_ids = new_rows["id"].tail(math.floor(len(new_rows) * recent_fraction + 0.5))
    originals.loc[originals["id"].isin(recent_ids), "split_hint"] = RECENT_EVAL
    train = originals[originals["split_hint"].isna()]

    upsampled = upsample(train, rng, balance_ratio) if rebalance else train.iloc[:0]
    augmented = augment_rows(train, rng) if augment else train.iloc[:0]
    dataset = pd.concat([originals, upsampled, augmented], ignore_index=True)[DATASET_COLUMNS]
    training_part = dataset[dataset["split_hint"].isna()]
    report = {
        "previous_rows": len(previous),
        "new_rows": len(new),
        "replaced_by_id": len(combined) - len(by_id),
        "holdout_removed": int(in_holdout.sum()),
        "conflicts_removed": int(conflicting.sum()),
        "conflicting_texts": int((tags_per_text > 1).sum()),
        "duplicates_removed": len(consistent) - len(deduplicated),
        "kept": int((originals["source"] == "previous").sum()),
        "added": int((originals["source"] == "new").sum()),
        "upsampled": len(upsampled),
        "augmented": len(augmented),
        "recent_eval": len(recent_ids),
        "rows": len(dataset),
        "class_counts_before": tag_distribution(train),
        "class_counts_after": tag_distribution(training_part),
    }
    return dataset, report


def assign_splits(
    dataset: pd.DataFrame, *, seed: int, validation_fraction: float = 0.15, test_fraction: float = 0.15
) -> pd.DataFrame:
    """``dataset`` with a ``split`` column: train/validation/test for originals, ``recent_eval`` kept.

    The originals outside the recent slice are split (stratified, seeded) as usual; a copied or
    perturbed row follows its original into training and is dropped if its original landed in
    validation or test, where it would leak the answer.
    """
    originals = dataset[(dataset["origin"] == ORIGINAL) & dataset["split_hint"].isna()]
    splits = split_dataset(
        originals, seed=seed, validation_fraction=validation_fraction, test_fraction=test_fraction
    )
    split_of = {row_id: name for name, part in splits.as_dict().items() for row_id in part["id"]}
    recent = dataset[dataset["split_hint"] == RECENT_EVAL].assign(split=RECENT_EVAL)
    derived = dataset[dataset["origin"] != ORIGINAL]
    derived = derived.assign(split=derived["id"].map(split_of))
    return pd.concat(
        [
            *(part.assign(split=name) for name, part in splits.as_dict().items()),
            derived[derived["split"] == "train"],
            recent,
        ],
        ignore_index=True,
    )
