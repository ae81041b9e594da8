"""The data set a retraining learns from: everything known so far plus what annotators just labeled.

Old rows stay (dropping them makes the model forget classes that are quiet this month), new ones
win where they relabel the same id, and whatever would mislead the model or the evaluation is
removed: texts labeled two ways, repeats, and anything in the frozen holdout (by id or by text: an
annotated request carrying a holdout project's text is that project under another id). Part of the
recent new rows is set aside as a ``recent_eval`` slice, because a retrain prompted by drift must be
shown to work on the drifted traffic, which the holdout predates. When the drift's start is known,
that part is a random share of the rows since then, not the newest rows: those may be all the
labels of the changed traffic there are, and a model that never trains on them cannot learn it.

``previous`` is what the champion learned from: its own composed set when it was retrained (the
``recent_eval`` rows held out then are old news now and are trained on). A "new" row with the same
text and tag as a previous one was already learned, and does not count as new: otherwise every
improve re-sends the same annotations and a retrain on unchanged data passes for one on new data.
Two annotations of one text that disagree are not settled silently (the last file winning): both
are removed and the report names the texts.

Rebalancing and augmentation add rows that copy or perturb an original one and keep its id; they
belong in training only, which ``assign_splits`` enforces.
"""

from __future__ import annotations

import math
from datetime import datetime
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
    recent_since: pd.Timestamp | None = None,
    balance_ratio: float = 0.5,
) -> tuple[pd.DataFrame, dict[str, Any]]:
    """The retraining data set (``DATASET_COLUMNS``) and a report counting every step.

    ``source`` says whether a row was ``previous`` or ``new``, ``origin`` whether it is an
    ``original``, ``upsampled`` or ``augmented`` row, and ``split_hint`` is ``recent_eval`` for
    ``recent_fraction`` of the new rows, never copied nor perturbed: the most recent ones (by
    ``created_on``), or a seeded random share of those created since ``recent_since`` (naive UTC).
    Deduplication keeps a new row over a previous one, then the latest.
    The report's class counts are of the rows left for training (all but the recent slice),
    before and after rebalancing and augmentation.
    """
    rng = np.random.default_rng(seed)
    previous = previous[LABELED_COLUMNS].assign(source="previous")
    new = new_labeled[LABELED_COLUMNS].assign(source="new")
    learned = new.set_index(["text", "tag"]).index.isin(previous.set_index(["text", "tag"]).index)
    disputed = _disputed_texts(new)
    new = new[~learned & ~new["text"].isin(disputed.index)]
    combined = pd.concat([previous, new], ignore_index=True).assign(
        created_on=lambda frame: pd.to_datetime(frame["created_on"])
    )
    by_id = combined.drop_duplicates(subset=["id"], keep="last")

    in_holdout = by_id.index.isin(holdout_overlap(by_id, holdout).index)
    outside = by_id[~in_holdout]
    conflicts = pd.concat([disputed, _disputed_texts(outside)])
    conflicting = outside["text"].isin(conflicts.index)
    consistent = outside[~conflicting]
    deduplicated = (
        consistent.assign(is_new=consistent["source"] == "new")
        .sort_values(["is_new", "created_on"], kind="stable")
        .drop_duplicates(subset=["text"], keep="last")
    )
    originals = deduplicated.assign(origin=ORIGINAL, split_hint=None)

    new_rows = originals[originals["source"] == "new"].sort_values("created_on", kind="stable")
    if recent_since is None:
        recent_ids = new_rows["id"].tail(math.floor(len(new_rows) * recent_fraction + 0.5))
    else:
        changed = new_rows.loc[new_rows["created_on"] >= recent_since, "id"]
        size = math.floor(len(changed) * recent_fraction + 0.5)
        recent_ids = pd.Series(rng.choice(changed.to_numpy(), size=size, replace=False))
    originals.loc[originals["id"].isin(recent_ids), "split_hint"] = RECENT_EVAL
    train = originals[originals["split_hint"].isna()]

    upsampled = upsample(train, rng, balance_ratio) if rebalance else train.iloc[:0]
    augmented = augment_rows(train, rng) if augment else train.iloc[:0]
    dataset = pd.concat([originals, upsampled, augmented], ignore_index=True)[DATASET_COLUMNS]
    training_part = dataset[dataset["split_hint"].isna()]
    report = {
        "previous_rows": len(previous),
        "new_rows": len(new),
        "already_learned": int(learned.sum()),
        "replaced_by_id": len(combined) - len(by_id),
        "holdout_removed": int(in_holdout.sum()),
        "conflicts_removed": int(conflicting.sum()) + int(new_labeled["text"].isin(disputed.index).sum()),
        "conflicting_texts": len(conflicts),
        "conflicts": [{"text": text, "tags": tags} for text, tags in conflicts.items()],
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


def _disputed_texts(frame: pd.DataFrame) -> pd.Series:
    """The texts of ``frame`` carrying more than one tag, with their sorted tags."""
    tags = frame.groupby("text")["tag"].agg(lambda values: sorted(set(map(str, values))))
    return tags[tags.str.len() > 1]


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


def compose_and_split(
    previous: pd.DataFrame,
    new_labeled: pd.DataFrame,
    *,
    holdout: pd.DataFrame,
    seed: int,
    min_added: int = 1,
    changed_since: datetime | str | None = None,
    **options,
) -> tuple[pd.DataFrame, dict[str, Any]]:
    """:func:`compose_retraining_dataset` then :func:`assign_splits`, with a report of the set as stored.

    Splitting drops the copies of originals that landed in validation or test, so the composition's
    own counts describe a set that is never stored; here ``rows``, ``upsampled``, ``augmented`` and
    ``class_counts_after`` are counted on the split frame, ``copies_dropped`` says how many copies
    went, and ``splits`` gives the rows per split.

    Fails when fewer than ``min_added`` rows are new (created at or after ``changed_since``, when
    a drift began): a retrain on the data the champion already learned from can only reproduce the
    champion, and one on a handful of labels of the changed traffic is promoted as "not worse"
    without having learned what changed, then holds the improve cooldown while that traffic keeps
    failing. Waiting for enough labels costs a few windows once.
    """
    since = None if changed_since is None else pd.Timestamp(changed_since)
    if since is not None and since.tzinfo is not None:
        since = since.tz_convert("UTC").tz_localize(None)
    dataset, report = compose_retraining_dataset(
        previous, new_labeled, holdout=holdout, seed=seed, recent_since=since, **options
    )
    added = dataset[(dataset["source"] == "new") & (dataset["origin"] == ORIGINAL)]
    if since is not None:
        added = added[added["created_on"] >= since]
        report["added_since_change"] = len(added)
    if len(added) < max(min_added, 1):
        since_text = f" since {since:%Y-%m-%d %H:%M} UTC" if since is not None else ""
        raise NothingNewError(
            f"too little new to retrain on: {len(added)} rows added{since_text}, {max(min_added, 1)} needed"
            f" ({report['new_rows'] + report['already_learned']} new labeled rows,"
            f" {report['already_learned']} already learned by the champion,"
            f" {report['conflicting_texts']} texts in conflict)"
        )
    stored = assign_splits(dataset, seed=seed)
    origins = stored["origin"].value_counts()
    report |= {
        "copies_dropped": len(dataset) - len(stored),
        "rows": len(stored),
        "upsampled": int(origins.get(UPSAMPLED, 0)),
        "augmented": int(origins.get(AUGMENTED, 0)),
        "splits": {str(name): int(n) for name, n in stored["split"].value_counts().sort_index().items()},
        "class_counts_after": tag_distribution(stored[stored["split"] == "train"]),
    }
    return stored, report


class NothingNewError(ValueError):
    """A retraining set with too few rows the champion has not learned from."""
