"""Landing files: which name which batch, which are refused or ignored, and fingerprints."""

from pathlib import Path

import pytest

from tagifai_platform.data.batches import Landing, batch_file, scan_landing


def drop(folder: Path, *names: str, content: str = "x") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for name in names:
        (folder / name).write_text(content)
    return folder


def test_batch_keys_come_from_the_file_name(tmp_path):
    landing = drop(
        tmp_path, "projects_2024-06.csv", "tags_2024-06.csv", "projects-week7.csv", "tags-week7.csv"
    )
    drop(landing, "projects.csv", "tags.csv")
    found = scan_landing(landing)
    assert sorted(batch.key for batch in found.complete) == ["2024-06", "landing", "week7"]
    assert found.ignored == {} and found.ambiguous == {} and found.waiting == []


@pytest.mark.parametrize(
    ("name", "reason"),
    [
        ("notes.csv", "neither 'projects' nor 'tags'"),
        ("projects_source.csv", "the configured source's batch"),
        ("projects_a,b.csv", "is not a batch name"),
        ("projects_week 2.csv", "is not a batch name"),
        ("projects_b2.CSV", "lowercase .csv"),
        ("Projects_b2.csv", "neither 'projects' nor 'tags'"),
        ("projects_café.csv", "is not a batch name"),
    ],
)
def test_files_that_name_no_batch_are_reported_with_the_reason(tmp_path, name, reason):
    found = scan_landing(drop(tmp_path, name))
    assert reason in found.ignored[name]
    assert any(name in line for line in found.problems())


@pytest.mark.parametrize(
    "names",
    [
        ("projects-b2.csv", "projects_b2.csv", "tags_b2.csv"),
        ("projects.csv", "projects_landing.csv", "tags.csv"),
    ],
)
def test_two_files_naming_one_batch_refuse_it(tmp_path, names):
    landing = drop(tmp_path, *names)
    found = scan_landing(landing)
    key = "b2" if "b2" in names[0] else "landing"
    assert found.complete == [] and sorted(found.ambiguous[key]) == sorted(names[:2])
    assert any("refused" in line for line in found.problems())
    with pytest.raises(FileNotFoundError, match="ambiguous"):
        batch_file(landing, key, "projects")


def test_only_complete_pairs_are_batches(tmp_path):
    found = scan_landing(drop(tmp_path, "projects_a.csv", "tags_a.csv", "projects_b.csv", ".projects_c.csv"))
    assert [batch.key for batch in found.complete] == ["a"] and found.waiting == ["b"]
    assert found.ignored == {}, "hidden files are an editor's or a copier's, not the user's"


def test_fingerprints_follow_the_content(tmp_path):
    drop(tmp_path, "projects_a.csv", "tags_a.csv")
    first = scan_landing(tmp_path).complete[0].fingerprint()
    assert scan_landing(tmp_path).complete[0].fingerprint() == first
    (tmp_path / "tags_a.csv").write_text("y2")
    assert scan_landing(tmp_path).complete[0].fingerprint() != first


def test_a_missing_landing_directory_has_no_batches(tmp_path):
    assert scan_landing(tmp_path / "nowhere") == Landing()
