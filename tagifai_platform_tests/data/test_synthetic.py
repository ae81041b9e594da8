"""The synthetic batch generator: seeded, sized, mixed and shifted as asked, and valid platform input."""

import numpy as np
import pandas as pd
import pytest

from tagifai_platform.data import suites
from tagifai_platform.data.batches import scan_landing
from tagifai_platform.data.schema import PROJECT_COLUMNS, TAG_COLUMNS
from tagifai_platform.data.sources import read_projects, read_tags
from tagifai_platform.data.synthetic import NEW_TOPIC_WORDS, Shift, project_names, synthesize, write_batch
from tagifai_platform.data.transform import holdout_overlap, label_projects


@pytest.fixture(scope="module")
def raw(dataset_dir):
    projects = read_projects(str(dataset_dir / "projects.csv"))
    return projects, read_tags(str(dataset_dir / "tags.csv"), projects)


def test_the_same_seed_gives_the_same_batch(raw):
    first, again, other = (synthesize(*raw, n=300, seed=seed) for seed in (7, 7, 8))
    pd.testing.assert_frame_equal(first.projects, again.projects)
    pd.testing.assert_frame_equal(first.tags, again.tags)
    assert not first.projects["description"].equals(other.projects["description"])


def test_a_batch_has_the_landing_layout_unique_ids_and_texts(raw):
    batch = synthesize(*raw, n=2_000, seed=1, first_id=5_000_000)
    assert len(batch) == 2_000
    assert list(batch.projects.columns) == PROJECT_COLUMNS and list(batch.tags.columns) == TAG_COLUMNS
    assert batch.projects["id"].tolist() == [str(i) for i in range(5_000_000, 5_002_000)]
    assert batch.projects["id"].equals(batch.tags["id"])
    assert (batch.projects["title"] + " " + batch.projects["description"]).is_unique
    created = pd.to_datetime(batch.projects["created_on"])
    assert created.is_monotonic_increasing


def test_by_default_ids_follow_the_real_ones_and_tags_keep_the_real_mix(raw):
    projects, tags = raw
    batch = synthesize(projects, tags, n=20_000, seed=2)
    assert batch.projects["id"].astype(int).min() == projects["id"].astype(int).max() + 1
    real = tags["tag"].value_counts(normalize=True)
    synthetic = batch.tags["tag"].value_counts(normalize=True)
    assert (synthetic.reindex(real.index) - real).abs().max() < 0.02


def test_the_tag_mix_is_controlled(raw):
    batch = synthesize(*raw, n=4_000, seed=3, tag_mix={"mlops": 3, "computer-vision": 1})
    shares = batch.tags["tag"].value_counts(normalize=True)
    assert set(shares.index) == {"mlops", "computer-vision"}
    assert shares["mlops"] == pytest.approx(0.75, abs=0.03)
    with pytest.raises(ValueError, match="quantum"):
        synthesize(*raw, n=10, tag_mix={"quantum": 1})


def test_a_descriptions_words_come_from_projects_of_its_own_tag(raw):
    projects, tags = raw
    records = projects.merge(tags, on="id")
    vocabulary = {
        tag: set(" ".join(group["description"].fillna("")).split()) for tag, group in records.groupby("tag")
    }
    batch = synthesize(projects, tags, n=500, seed=4)
    for description, tag in zip(batch.projects["description"], batch.tags["tag"], strict=True):
        assert set(description.split()) <= vocabulary[tag]


def test_a_shift_brings_new_words_and_optionally_a_new_tag(raw):
    plain = synthesize(*raw, n=1_000, seed=5)
    shifted = synthesize(*raw, n=1_000, seed=5, shift=Shift(rows=0.5, words=0.6, tag="mlops"))

    def new_words(batch):
        return batch.projects["description"].map(lambda text: len(set(text.split()) & set(NEW_TOPIC_WORDS)))

    assert new_words(plain).sum() == 0
    touched = new_words(shifted) > 0
    assert 0.4 < touched.mean() < 0.6
    assert (shifted.tags.loc[touched, "tag"] == "mlops").all()


def test_names_are_distinct_across_widths():
    ids = np.concatenate([np.arange(0, 70_000), np.arange(262_000, 263_000), [2**40, 2**62]])
    names = project_names(ids)
    assert len(set(names)) == len(ids)
    assert project_names(np.array([12345]))[0] == project_names(np.array([12345]))[0]


def test_a_batch_passes_the_suites_and_labels_every_row(validate_in_duckdb, raw, holdout):
    batch = synthesize(*raw, n=2_000, seed=6, shift=Shift())
    projects, tags = "select * from projects", "select * from tags"
    for suite, query in [
        (suites.raw_projects_suite(), suites.projects_for_validation(projects)),
        (suites.raw_tags_suite(), suites.tags_for_validation(tags, projects)),
    ]:
        summary = validate_in_duckdb(suite, query, projects=batch.projects, tags=batch.tags)
        assert summary.success, summary.describe()
    labeled = label_projects(batch.projects, batch.tags)
    assert len(labeled) == 2_000
    assert holdout_overlap(labeled, holdout).empty
    summary = validate_in_duckdb(suites.labeled_projects_suite(holdout), projects, projects=labeled)
    assert summary.success, summary.describe()


def test_written_batches_are_landing_batches_that_read_back(raw, tmp_path):
    batch = synthesize(*raw, n=200, seed=9)
    write_batch(batch, tmp_path, "synthetic-1")
    found = scan_landing(tmp_path)
    assert [b.key for b in found.complete] == ["synthetic-1"]
    projects = read_projects(str(found.complete[0].projects))
    pd.testing.assert_frame_equal(projects, batch.projects)
    pd.testing.assert_frame_equal(read_tags(str(found.complete[0].tags), projects), batch.tags)
    source = write_batch(batch, tmp_path / "source")
    assert [path.name for path in source] == ["projects.csv", "tags.csv"]
