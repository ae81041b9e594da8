"""Composing the retraining set: QA, holdout, recent slice, rebalancing, augmentation, leak-free splits."""

import pandas as pd
import pytest

from tagifai_platform.data.schema import LABELED_COLUMNS
from tagifai_platform.monitoring.retraining import (
    AUGMENTED,
    DATASET_COLUMNS,
    ORIGINAL,
    RECENT_EVAL,
    UPSAMPLED,
    NothingNewError,
    assign_splits,
    compose_and_split,
    compose_retraining_dataset,
)

CV, NLP, MLOPS = "computer-vision", "natural-language-processing", "mlops"


def frame(rows, start):
    return pd.DataFrame(
        {
            "id": [row_id for row_id, _, _ in rows],
            "created_on": pd.date_range(start, periods=len(rows), freq="D"),
            "title": [text for _, text, _ in rows],
            "description": "",
            "tag": [tag for _, _, tag in rows],
            "text": [text for _, text, _ in rows],
        },
        columns=LABELED_COLUMNS,
    )


PREVIOUS = frame(
    [
        (1, "cv one", CV),
        (2, "cv two", CV),
        (3, "cv three", CV),
        (4, "cv four", CV),
        (5, "nlp one", NLP),  # sent again as the new r3: already learned
        (6, "same text", NLP),  # a duplicate of 7
        (7, "same text", NLP),
        (8, "two ways", CV),  # conflicts with 9
        (9, "two ways", NLP),
        (10, "in the holdout", CV),
        (11, "relabel me", CV),  # relabeled by the new row with the same id
    ],
    "2020-01-01",
)
NEW = frame(
    [
        (11, "relabel me", MLOPS),
        ("r1", "new mlops a", MLOPS),
        ("r2", "new mlops b", MLOPS),
        ("r3", "nlp one", NLP),
        ("r4", "the latest", CV),
    ],
    "2021-01-01",
)


HOLDOUT = frame([(10, "in the holdout", CV)], "2019-01-01")
NO_HOLDOUT = frame([], "2019-01-01")


def compose(**options):
    return compose_retraining_dataset(PREVIOUS, NEW, holdout=HOLDOUT, seed=0, **options)


def test_qa_holdout_and_recent_slice_are_counted():
    dataset, report = compose(rebalance=False)

    assert report == {
        "previous_rows": 11,
        "new_rows": 4,
        "already_learned": 1,
        "replaced_by_id": 1,
        "holdout_removed": 1,
        "conflicts_removed": 2,
        "conflicting_texts": 1,
        "conflicts": [{"text": "two ways", "tags": [CV, NLP]}],
        "duplicates_removed": 1,
        "kept": 6,
        "added": 4,
        "upsampled": 0,
        "augmented": 0,
        "recent_eval": 1,
        "rows": 10,
        "class_counts_before": {CV: 4, MLOPS: 3, NLP: 2},
        "class_counts_after": {CV: 4, MLOPS: 3, NLP: 2},
    }
    assert list(dataset.columns) == DATASET_COLUMNS
    by_text = dataset.set_index("text")
    assert by_text.loc["relabel me", "tag"] == MLOPS  # new wins on the same id
    assert by_text.loc["nlp one", "id"] == 5  # the same text and tag again: already learned
    assert "two ways" not in by_text.index and "in the holdout" not in by_text.index
    assert dataset.loc[dataset["split_hint"] == RECENT_EVAL, "text"].tolist() == ["the latest"]
    assert set(dataset["id"]) == {1, 2, 3, 4, 5, 7, 11, "r1", "r2", "r4"}  # ids as they came


def test_rebalancing_copies_minority_rows_towards_the_majority():
    dataset, report = compose(balance_ratio=1.0)

    assert report["upsampled"] == 3
    assert report["class_counts_after"] == {CV: 4, MLOPS: 4, NLP: 4}
    copies = dataset[dataset["origin"] == UPSAMPLED]
    originals = dataset[dataset["origin"] == ORIGINAL]
    assert set(copies["tag"]) == {MLOPS, NLP} and set(copies["id"]) <= set(originals["id"])
    assert copies["split_hint"].isna().all()  # the recent slice is never copied


def test_augmentation_perturbs_training_rows_only_and_marks_them():
    previous = frame([(i, f"word{i} alpha beta gamma delta epsilon", CV) for i in range(20)], "2020-01-01")
    new = frame([("n1", "recent alpha beta gamma delta", CV)], "2021-01-01")

    dataset, report = compose_retraining_dataset(
        previous, new, holdout=NO_HOLDOUT, seed=1, rebalance=False, augment=True, recent_fraction=1.0
    )

    augmented = dataset[dataset["origin"] == AUGMENTED]
    assert report["augmented"] == len(augmented) > 0
    assert not set(augmented["text"]) & set(dataset.loc[dataset["origin"] == ORIGINAL, "text"])
    assert "n1" not in set(augmented["id"])


def test_the_same_seed_gives_the_same_dataset():
    first, first_report = compose(balance_ratio=1.0, augment=True)
    second, second_report = compose(balance_ratio=1.0, augment=True)

    pd.testing.assert_frame_equal(first, second)
    assert first_report == second_report


def test_splits_keep_copies_with_their_original_in_training(labeled):
    previous, new = labeled.iloc[:600], labeled.iloc[600:]
    dataset, report = compose_retraining_dataset(previous, new, holdout=NO_HOLDOUT, seed=3, augment=True)

    split = assign_splits(dataset, seed=3)

    assert report["upsampled"] > 0 and report["recent_eval"] == 33
    assert (split.loc[split["split_hint"] == RECENT_EVAL, "split"] == RECENT_EVAL).all()
    assert (split.loc[split["origin"] != ORIGINAL, "split"] == "train").all()
    evaluation_ids = set(split.loc[split["split"].isin(["validation", "test"]), "id"])
    assert not evaluation_ids & set(split.loc[split["origin"] != ORIGINAL, "id"])
    assert (split["origin"] == ORIGINAL).sum() == (dataset["origin"] == ORIGINAL).sum()
    assert split.groupby("split").size().to_dict()["test"] == pytest.approx(0.15 * (764 - 33), abs=1)


def annotation_rows(rows, start="2021-02-01"):
    return frame([(f"a{i}", text, tag) for i, (text, tag) in enumerate(rows)], start)


def test_annotations_already_learned_are_not_new_and_nothing_new_fails(labeled):
    """Reproduced: a second improve re-sent the annotations the champion was trained on as new."""
    previous, new = labeled.iloc[:600], labeled.iloc[600:]
    first, report = compose_and_split(previous, new, holdout=NO_HOLDOUT, seed=0)
    originals = first[first["origin"] == ORIGINAL]
    with pytest.raises(NothingNewError, match=f"{report['added']} already learned"):
        compose_and_split(originals, new, holdout=NO_HOLDOUT, seed=0)
    dataset, again = compose_retraining_dataset(originals, new, holdout=NO_HOLDOUT, seed=0)
    assert again["added"] == again["recent_eval"] == 0
    assert again["kept"] == len(originals)  # last time's recent_eval rows are trained on now


def test_annotations_that_disagree_are_removed_and_named():
    """Reproduced: two files disagreeing on texts kept the last one silently (conflicts_removed: 0)."""
    one = annotation_rows([("agree", MLOPS), ("disputed a", CV), ("disputed b", NLP)])
    other = annotation_rows([("agree", MLOPS), ("disputed a", NLP), ("disputed b", MLOPS)])
    new = pd.concat([one, other], ignore_index=True)
    new = new.assign(id=new["text"])  # annotation ids come from the text: the same id in both files

    dataset, report = compose_retraining_dataset(PREVIOUS, new, holdout=HOLDOUT, seed=0)

    assert report["conflicts_removed"] >= 4
    assert {"text": "disputed a", "tags": [CV, NLP]} in report["conflicts"]
    assert {"text": "disputed b", "tags": [MLOPS, NLP]} in report["conflicts"]
    assert not dataset["text"].str.startswith("disputed").any() and "agree" in set(dataset["text"])


def test_the_report_counts_the_stored_set(labeled):
    """Reproduced: the composition said 954 rows, the stored set had 907 (copies dropped by the split)."""
    stored, report = compose_and_split(
        labeled.iloc[:600], labeled.iloc[600:], holdout=NO_HOLDOUT, seed=3, augment=True
    )
    assert report["rows"] == len(stored) and report["copies_dropped"] > 0
    assert report["splits"] == stored["split"].value_counts().sort_index().to_dict()
    assert report["upsampled"] == (stored["origin"] == UPSAMPLED).sum()
    assert report["augmented"] == (stored["origin"] == AUGMENTED).sum()
    assert sum(report["class_counts_after"].values()) == (stored["split"] == "train").sum()


def test_a_handful_of_new_labels_waits_for_more(labeled):
    """Reproduced in the replay: a retrain on one day of labels was promoted as "not worse" without
    having learned the new topic, and held the cooldown while that traffic kept failing."""
    previous, new = labeled.iloc[:700], labeled.iloc[700:]
    with pytest.raises(NothingNewError, match=rf"{len(new)} rows added, {len(new) + 1} needed"):
        compose_and_split(previous, new, holdout=NO_HOLDOUT, seed=0, min_added=len(new) + 1)
    _, report = compose_and_split(previous, new, holdout=NO_HOLDOUT, seed=0, min_added=len(new))
    assert report["added"] == len(new)


def test_only_labels_of_the_changed_traffic_count_when_a_drift_began(labeled):
    previous, new = labeled.iloc[:600], labeled.iloc[600:]
    created = pd.to_datetime(new["created_on"])
    began = created.sort_values().iloc[len(new) // 2]
    since = int((created >= began).sum())
    with pytest.raises(
        NothingNewError, match=rf"{since} rows added since {began:%Y-%m-%d %H:%M} UTC, {since + 1}"
    ):
        compose_and_split(previous, new, holdout=NO_HOLDOUT, seed=0, min_added=since + 1, changed_since=began)
    _, report = compose_and_split(
        previous, new, holdout=NO_HOLDOUT, seed=0, min_added=since, changed_since=began.tz_localize("UTC")
    )
    assert report["added_since_change"] == since < report["added"]
