"""Landing batches: names, pairing, and fingerprints."""

from pathlib import Path

from tagifai_platform.data.batches import batch_key, find_batches


def test_batch_keys_come_from_the_file_name():
    assert batch_key(Path("projects_2024-06.csv")) == "2024-06"
    assert batch_key(Path("tags-week7.csv")) == "week7"
    assert batch_key(Path("projects.csv")) == "landing"
    assert batch_key(Path("notes.csv")) is None
    assert batch_key(Path("projects_source.csv")) is None, "the configured source's key is reserved"
    assert batch_key(Path("projects_a,b.csv")) is None


def test_only_complete_pairs_are_batches(tmp_path):
    (tmp_path / "projects_a.csv").write_text("x")
    (tmp_path / "tags_a.csv").write_text("y")
    (tmp_path / "projects_b.csv").write_text("z")
    complete, waiting = find_batches(tmp_path)
    assert [batch.key for batch in complete] == ["a"] and waiting == ["b"]


def test_fingerprints_follow_the_content(tmp_path):
    (tmp_path / "projects_a.csv").write_text("x")
    (tmp_path / "tags_a.csv").write_text("y")
    first = find_batches(tmp_path)[0][0].fingerprint()
    assert find_batches(tmp_path)[0][0].fingerprint() == first
    (tmp_path / "tags_a.csv").write_text("y2")
    assert find_batches(tmp_path)[0][0].fingerprint() != first


def test_a_missing_landing_directory_has_no_batches(tmp_path):
    assert find_batches(tmp_path / "nowhere") == ([], [])
