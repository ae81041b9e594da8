import pytest

from tagifai_platform.ml.splits import split_dataset


def test_splits_are_disjoint_and_cover_every_row(labeled, splits):
    ids = [set(part["id"]) for part in splits.as_dict().values()]
    assert sum(map(len, ids)) == len(labeled)
    assert set.union(*ids) == set(labeled["id"])
    assert not (ids[0] & ids[1] or ids[0] & ids[2] or ids[1] & ids[2])


def test_splits_have_the_requested_sizes_and_keep_all_columns(labeled, splits):
    assert len(splits.test) == pytest.approx(0.15 * len(labeled), abs=1)
    assert len(splits.validation) == pytest.approx(0.15 * len(labeled), abs=1)
    for part in splits.as_dict().values():
        assert list(part.columns) == list(labeled.columns)
        assert list(part.index) == list(range(len(part)))


def test_splits_are_stratified_on_tag(labeled, splits):
    overall = labeled["tag"].value_counts(normalize=True)
    for name, part in splits.as_dict().items():
        shares = part["tag"].value_counts(normalize=True).reindex(overall.index, fill_value=0)
        # stratified: each share within one row of the whole set's share
        assert (shares - overall).abs().max() <= 1 / len(part) + 1e-9, name


def test_same_seed_same_split_other_seed_other_split(labeled):
    first = split_dataset(labeled, seed=3)
    again = split_dataset(labeled, seed=3)
    other = split_dataset(labeled, seed=4)
    for name, part in first.as_dict().items():
        assert part["id"].tolist() == again.as_dict()[name]["id"].tolist()
    assert set(first.test["id"]) != set(other.test["id"])


@pytest.mark.parametrize("validation, test", [(0.0, 0.2), (0.2, 0.0), (0.5, 0.5), (1.2, 0.1)])
def test_fractions_must_leave_rows_in_every_split(labeled, validation, test):
    with pytest.raises(ValueError, match="fractions"):
        split_dataset(labeled, seed=0, validation_fraction=validation, test_fraction=test)
