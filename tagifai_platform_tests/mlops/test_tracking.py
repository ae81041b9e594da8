"""The training data's fingerprint: what the gate compares to tell new data from the same data."""

from tagifai_platform.mlops.tracking import data_fingerprint


def test_the_same_rows_in_any_order_have_one_fingerprint_and_a_relabel_changes_it(labeled):
    fingerprint = data_fingerprint(labeled)
    assert data_fingerprint(labeled.sample(frac=1, random_state=0)) == fingerprint
    assert data_fingerprint(labeled.assign(title="ignored")) == fingerprint, "only id, tag and text count"
    relabeled = labeled.copy()
    relabeled.loc[relabeled.index[0], "tag"] = "other" if labeled["tag"].iloc[0] != "other" else "mlops"
    assert data_fingerprint(relabeled) != fingerprint
    assert data_fingerprint(labeled.iloc[1:]) != fingerprint
