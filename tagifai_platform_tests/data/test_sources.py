"""Reading sources: local directories, loopback URLs, both tag layouts, and every way a file can be bad."""

import socket

import pandas as pd
import pytest

from tagifai_platform.data import sources
from tagifai_platform.data.sources import SourceError, read_holdout, read_projects, read_tags
from tagifai_platform_tests.conftest import copy_dataset


def test_reads_the_real_files(dataset_dir):
    projects = read_projects(str(dataset_dir / "projects.csv"))
    tags = read_tags(str(dataset_dir / "tags.csv"), projects)
    holdout = read_holdout(str(dataset_dir / "holdout.csv"))
    assert (len(projects), len(tags), len(holdout)) == (764, 764, 191)
    assert list(projects.columns) == ["id", "created_on", "title", "description"]
    assert projects["id"].map(type).eq(str).all(), "raw files are read as text"


def test_reads_from_a_loopback_url(dataset_dir, tmp_path, serve_directory):
    url = serve_directory(copy_dataset(dataset_dir, tmp_path / "site"))
    projects = read_projects(f"{url}/projects.csv")
    assert len(read_tags(f"{url}/tags.csv", projects)) == 764


def test_accepts_a_lone_tag_column_aligned_with_projects(dataset_dir, tmp_path):
    projects = read_projects(str(dataset_dir / "projects.csv"))
    tags = pd.read_csv(dataset_dir / "tags.csv")
    tags[["tag"]].to_csv(tmp_path / "tags.csv", index=False)
    aligned = read_tags(str(tmp_path / "tags.csv"), projects)
    assert aligned["id"].tolist() == projects["id"].tolist()
    assert aligned["tag"].tolist() == tags["tag"].tolist()


def test_a_lone_tag_column_of_the_wrong_length_is_refused(dataset_dir, tmp_path):
    projects = read_projects(str(dataset_dir / "projects.csv"))
    (tmp_path / "tags.csv").write_text("tag\nmlops\n")
    with pytest.raises(SourceError, match="one row per project"):
        read_tags(str(tmp_path / "tags.csv"), projects)


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_an_unreachable_url_names_what_was_tried_and_the_way_out():
    url = f"http://127.0.0.1:{_closed_port()}/projects.csv"
    with pytest.raises(SourceError) as error:
        read_projects(url)
    assert url in str(error.value) and "TAGIFAI_SOURCE" in str(error.value)


def test_a_missing_file_is_a_source_error(tmp_path):
    with pytest.raises(SourceError, match="projects.csv"):
        read_projects(str(tmp_path / "projects.csv"))


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"", "is empty"),
        (b"\n  \n", "is empty"),
        (b"id,created_on,title,description\n1,2020-01-01,caf\xe9,x\n", "not UTF-8"),
        (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", "not UTF-8"),
        (b'{"id": 1, "title": "json"}', "missing columns"),
        (b"id,created_on,title\n1,2020-01-01,a\n", "missing columns \\['description'\\]"),
        (b"id,created_on,title,description,stars\n1,2020-01-01,a,b,5\n", "unexpected columns \\['stars'\\]"),
        (b'id,created_on,title,description\n1,2020-01-01,"unclosed,b\n', "not a valid CSV"),
    ],
    ids=["empty", "blank", "latin-1", "binary", "json", "missing-column", "extra-column", "broken-quote"],
)
def test_bad_files_are_refused_with_the_reason(tmp_path, content, message):
    path = tmp_path / "projects.csv"
    path.write_bytes(content)
    with pytest.raises(SourceError, match=message) as error:
        read_projects(str(path))
    assert str(path) in str(error.value)


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("id,created_on,title,description\n1,2020,😀 café €,x😀\n".encode(), None),
        (b"id,created_on,title,description\n1,2020,caf\xe9,x\n", "byte 42: invalid continuation byte"),
        ("id,created_on,title,description\n1,2020,😀,x\n".encode() + b"\xff", "byte 46: invalid start byte"),
        ("id,created_on,title,description\n1,2020,a,😀".encode()[:-1], "byte 41: unexpected end of data"),
    ],
    ids=["characters-across-edges", "latin-1", "stray-byte-at-the-end", "cut-character-at-the-end"],
)
def test_utf8_is_checked_a_chunk_at_a_time_with_the_exact_byte(tmp_path, monkeypatch, content, message):
    """Chunks of four bytes cut most characters above ASCII in two: they still decode, and a bad
    byte is reported at the offset decoding the whole file gives."""
    monkeypatch.setattr(sources, "UTF8_CHUNK_BYTES", 4)
    path = tmp_path / "projects.csv"
    path.write_bytes(content)
    if message is None:
        assert read_projects(str(path)).iloc[0].tolist() == ["1", "2020", "😀 café €", "x😀"]
    else:
        with pytest.raises(SourceError, match=message):
            read_projects(str(path))
