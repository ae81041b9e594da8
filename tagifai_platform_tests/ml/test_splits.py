import pytest

from tagifai_platform.ml.splits import split_dataset


def test_splits_are_disjoint_and_cover_every_row(projects_frame, splits):
    ids = [set(part["id"]) for part in splits.as_dict().values()]
    assert sum(map(len, ids)) == len(projects_frame)
    assert set.union(*ids) == set(projects_frame["id"])
    assert not (ids[0] & ids[1] or ids[0] & ids[2] or ids[1] & ids[2])


def test_splits_have_the_requested_sizes_and_keep_all_columns(projects_frame, splits):
    assert len(splits.test) == pytest.approx(0.15 * len(projects_frame), abs=1)
    assert len(splits.validation) == pytest.approx(0.15 * len(projects_frame), abs=1)
    for part in splits.as_dict().values():
        assert list(part.columns) == list(projects_frame.columns)
        assert list(part.index) == list(range(len(part)))


def test_splits_are_stratified_on_tag(projects_frame, splits):
    overall = projects_frame["tag"].value_counts(normalize=True)
    for name, part in splits.as_dict().items():
        shares = part["tag"].value_counts(normalize=True).reindex(overall.index, fill_value=0)
        # stratified: each share within one row of the whole set's share
        assert (shares - overall).abs().max() <= 1 / len(part) + 1e-9, name


def test_same_seed_same_split_other_seed_other_split(projects_frame):
    first = split_dataset(projects_frame, seed=3)
    again = split_dataset(projects_frame, seed=3)
    other = split_dataset(projects_frame, seed=4)
    for name, part in first.as_dict().items():
        assert part["id"].tolist() == again.as_dict()[name]["id"].tolist()
    assert set(first.test["id"]) != set(other.test["id"])


@pytest.mark.parametrize("validation, test", [(0.0, 0.2), (0.2, 0.0), (0.5, 0.5), (1.2, 0.1)])
def test_fractions_must_leave_rows_in_every_split(projects_frame, validation, test):
    with pytest.raises(ValueError, match="fractions"):
        split_dataset(projects_frame, seed=0, validation_fraction=validation, test_fraction=test)
