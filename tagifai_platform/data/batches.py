"""Batches of new data dropped into the landing directory.

A batch is a pair of files, ``projects<suffix>.csv`` and ``tags<suffix>.csv``; the suffix (less a
leading ``_`` or ``-``) names the batch and becomes its partition key. The fingerprint of a batch is
a hash of both files' bytes, so re-dropping identical files is recognised and a changed file is not.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from pathlib import Path

# The configured source (TAGIFAI_SOURCE) is itself ingested as the batch of this name.
SOURCE_BATCH = "source"
_VALID_KEY = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
_KINDS = ("projects", "tags")


@dataclass(frozen=True)
class Batch:
    key: str
    projects: Path
    tags: Path

    def fingerprint(self) -> str:
        digest = hashlib.sha256()
        for path in (self.projects, self.tags):
            digest.update(path.read_bytes())
            digest.update(b"\0")
        return digest.hexdigest()[:16]


def batch_key(path: Path) -> str | None:
    """The batch a landing file belongs to, or None when its name does not follow the convention."""
    for kind in _KINDS:
        if path.suffix == ".csv" and path.stem.startswith(kind):
            key = path.stem[len(kind) :].lstrip("_-") or "landing"
            return key if _VALID_KEY.match(key) and key != SOURCE_BATCH else None
    return None


def batch_file(landing: Path, key: str, kind: str) -> Path:
    """The landing file of ``kind`` ("projects" or "tags") for batch ``key``."""
    for path in sorted(landing.glob(f"{kind}*.csv")):
        if batch_key(path) == key:
            return path
    raise FileNotFoundError(f"No {kind}*.csv file for batch {key!r} in {landing}.")


def find_batches(landing: Path) -> tuple[list[Batch], list[str]]:
    """Complete batches in ``landing``, and the keys of batches still waiting for their other file."""
    if not landing.is_dir():
        return [], []
    files: dict[str, dict[str, Path]] = {}
    for path in sorted(landing.glob("*.csv")):
        key = batch_key(path)
        if key is not None:
            kind = next(kind for kind in _KINDS if path.stem.startswith(kind))
            files.setdefault(key, {})[kind] = path
    complete = [Batch(key, pair["projects"], pair["tags"]) for key, pair in files.items() if len(pair) == 2]
    waiting = [key for key, pair in files.items() if len(pair) < 2]
    return complete, waiting
