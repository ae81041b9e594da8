"""Batches of new data dropped into the landing directory.

A batch is a pair of files, ``projects<suffix>.csv`` and ``tags<suffix>.csv``; the suffix (less a
leading ``_`` or ``-``) names the batch and becomes its partition key, and a bare ``projects.csv``
names the batch ``landing``. Two files of one kind that name the same batch are ambiguous and
refused; any other file is ignored with the reason, so that a user is told rather than left waiting.
The fingerprint of a batch is a hash of both files' bytes: it tells identical files from changed ones.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from pathlib import Path

# The configured source (TAGIFAI_SOURCE) is itself ingested as the batch of this name.
SOURCE_BATCH = "source"
BARE_BATCH = "landing"
_VALID_KEY = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
_KINDS = ("projects", "tags")
NAMING = "name them projects_<batch>.csv and tags_<batch>.csv, <batch> of letters, digits, '.', '_', '-'"


def content_fingerprint(*contents: bytes) -> str:
    digest = hashlib.sha256()
    for content in contents:
        digest.update(content)
        digest.update(b"\0")
    return digest.hexdigest()[:16]


@dataclass(frozen=True)
class Batch:
    key: str
    projects: Path
    tags: Path

    def fingerprint(self) -> str:
        return content_fingerprint(self.projects.read_bytes(), self.tags.read_bytes())


@dataclass(frozen=True)
class Landing:
    """What the landing directory holds, file by file."""

    complete: list[Batch] = field(default_factory=list)
    waiting: list[str] = field(default_factory=list)
    ambiguous: dict[str, list[str]] = field(default_factory=dict)
    ignored: dict[str, str] = field(default_factory=dict)

    def problems(self) -> list[str]:
        """Sentences for the user: refused and ignored files, and batches still missing a file."""
        lines = [
            f"batch {key!r} is refused: {' and '.join(names)} both name it"
            for key, names in self.ambiguous.items()
        ]
        lines += [f"{name} is ignored: {reason}" for name, reason in self.ignored.items()]
        lines += [f"batch {key!r} waits for its other file" for key in self.waiting]
        return lines


def _classify(path: Path) -> tuple[str, str] | str:
    """(kind, batch key) of a landing file, or why it is not a batch file."""
    name = path.name
    if path.suffix != ".csv":
        return "not a .csv file (the suffix is lowercase .csv)"
    kind = next((kind for kind in _KINDS if path.stem.startswith(kind)), None)
    if kind is None:
        return f"it starts with neither 'projects' nor 'tags'; {NAMING}"
    key = path.stem[len(kind) :].lstrip("_-") or BARE_BATCH
    if key == SOURCE_BATCH:
        return f"'{SOURCE_BATCH}' is the configured source's batch; choose another name"
    if not _VALID_KEY.match(key):
        return f"{key!r} in {name!r} is not a batch name; {NAMING}"
    return kind, key


def scan_landing(landing: Path) -> Landing:
    if not landing.is_dir():
        return Landing()
    files: dict[str, dict[str, list[Path]]] = {}
    ignored = {}
    for path in sorted(landing.iterdir()):
        if path.name.startswith(".") or not path.is_file():
            continue  # hidden files and folders: editors' and copiers' own
        found = _classify(path)
        if isinstance(found, str):
            ignored[path.name] = found
            continue
        kind, key = found
        files.setdefault(key, {}).setdefault(kind, []).append(path)
    ambiguous = {
        key: [path.name for paths in pair.values() if len(paths) > 1 for path in paths]
        for key, pair in files.items()
        if any(len(paths) > 1 for paths in pair.values())
    }
    usable = {key: pair for key, pair in files.items() if key not in ambiguous}
    return Landing(
        complete=[
            Batch(key, pair["projects"][0], pair["tags"][0]) for key, pair in usable.items() if len(pair) == 2
        ],
        waiting=[key for key, pair in usable.items() if len(pair) < 2],
        ambiguous=ambiguous,
        ignored=ignored,
    )


def batch_file(landing: Path, key: str, kind: str) -> Path:
    """The landing file of ``kind`` ("projects" or "tags") for batch ``key``."""
    found = scan_landing(landing)
    if key in found.ambiguous:
        raise FileNotFoundError(
            f"Batch {key!r} is ambiguous: {found.ambiguous[key]} all name it; keep one of each kind."
        )
    for batch in found.complete:
        if batch.key == key:
            return batch.projects if kind == "projects" else batch.tags
    raise FileNotFoundError(f"No complete {kind}*.csv / tags*.csv pair for batch {key!r} in {landing}.")
