"""Synthetic batches of any size recombined from real projects, for benchmarks and continual learning.

The real data has 764 labeled projects; scaling work needs millions, and drift scenarios need batches
whose tag mix or vocabulary departs from it on purpose. Each synthetic project takes the title of one
real project and a description spliced from two real projects of the same tag (the head of one, the
tail of the other, one word dropped), so the words that tell the tags apart stay with their tag while
no two rows are copies.

Every title starts with a made-up name spelled from the project's id (``Zukifo: ...``): names are
unique per id, so texts never collide within a batch or across batches with disjoint ids (the suites
refuse duplicate texts), and the vocabulary grows with the number of projects, as it would with real
users naming their projects.

The same ``seed`` gives the same rows. Output frames hold strings in the layout users drop into the
landing folder (``projects``: id, created_on, title, description; ``tags``: id, tag), and
:func:`write_batch` writes them.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import numpy as np
import pandas as pd

from tagifai_platform.data.schema import PROJECT_COLUMNS, TAG_COLUMNS

# Consonant-vowel syllables: 64 of them spell 262,144 names in three syllables, more with four or five.
_SYLLABLES = np.array([c + v for c in "bdfgklmnprstvwxz" for v in "aeio"])
_MIN_SYLLABLES = 3
# An odd multiplier coprime to 64**k scatters consecutive ids over the names, so neighbours share no prefix.
_SCATTER = 2_654_435_761

# Words of two topics an ML project board does not yet have a tag for, for shifted batches.
NEW_TOPIC_WORDS = (
    "qubit", "qubits", "superconducting", "entanglement", "hamiltonian", "annealer", "transpiler",
    "decoherence", "ansatz", "eigensolver", "photonic", "cryogenic", "genome", "genomes", "sequencing",
    "nanopore", "transcriptome", "haplotype", "phylogeny", "methylation", "chromatin", "peptide",
    "proteome", "crispr", "amplicon", "metagenomic", "codon", "allele", "exome", "enzyme",
)  # fmt: skip


@dataclass(frozen=True)
class Shift:
    """How a batch departs from the real data, for drift and continual-learning scenarios.

    ``rows`` is the share of projects shifted; in each, ``words`` is the share of description words
    replaced by words of ``vocabulary`` (covariate shift: texts about something new). ``tag``, if given,
    relabels the shifted projects (concept shift: the same kind of text now means another tag).
    """

    rows: float = 0.3
    words: float = 0.5
    vocabulary: tuple[str, ...] = NEW_TOPIC_WORDS
    tag: str | None = None


@dataclass(frozen=True)
class SyntheticBatch:
    """Projects and tags as strings, in the landing layout."""

    projects: pd.DataFrame
    tags: pd.DataFrame

    def __len__(self) -> int:
        return len(self.projects)


def project_names(ids: np.ndarray) -> np.ndarray:
    """A made-up capitalized name per id, distinct for distinct non-negative ids.

    An id is scattered by a bijection of ``[0, 64**k)`` and spelled in ``k`` syllables, ``k`` the fewest (at
    least three) that hold it; names of different lengths differ, and within one length the bijection keeps
    them apart.
    """
    ids = np.asarray(ids, dtype=np.int64)
    if len(ids) and ids.min() < 0:
        raise ValueError("project names are spelled from non-negative ids")
    base = len(_SYLLABLES)
    # Integer comparisons, not logarithms: exact at every power of 64 (64**10 is the last below 2**63).
    widths = _MIN_SYLLABLES + sum((ids >= base**k).astype(int) for k in range(_MIN_SYLLABLES, 11))
    names = np.empty(len(ids), dtype=object)
    for width in np.unique(widths).tolist():
        chosen = widths == width
        modulus = base**width
        value = (ids[chosen].astype(object) * _SCATTER) % modulus  # Python ints: no overflow at any width
        digits = [(value // base**place % base).astype(np.int64) for place in range(width)]
        spelled = _SYLLABLES[digits[0]].astype(object)
        for digit in digits[1:]:
            spelled = spelled + _SYLLABLES[digit]
        names[chosen] = [name.capitalize() for name in spelled]
    return names


def _real_records(projects: pd.DataFrame, tags: pd.DataFrame) -> pd.DataFrame:
    records = projects.merge(tags[TAG_COLUMNS], on="id", how="inner").dropna(subset=["title", "tag"])
    records = records.assign(description=records["description"].fillna(""))
    if records.empty:
        raise ValueError("no tagged projects to recombine")
    return records.reset_index(drop=True)


def _tag_shares(records: pd.DataFrame, tag_mix: dict[str, float] | None) -> pd.Series:
    """Each tag's share of the batch: the real mix, or ``tag_mix`` normalized (its tags must be real)."""
    if tag_mix is None:
        return records["tag"].value_counts(normalize=True).sort_index()
    unknown = sorted(set(tag_mix) - set(records["tag"]))
    if unknown:
        raise ValueError(f"tag_mix names tags the real data does not have: {unknown}")
    weights = pd.Series(tag_mix, dtype=float)
    if (weights < 0).any() or weights.sum() <= 0:
        raise ValueError("tag_mix weights must be non-negative and not all zero")
    return (weights / weights.sum()).sort_index()


def _splice(
    words: list[list[str]], first: np.ndarray, second: np.ndarray, rng: np.random.Generator
) -> list[str]:
    """Head of one description, tail of another, one word dropped: a new text that keeps its tag's words."""
    cut_first, cut_second, drop = rng.random((3, len(first)))
    texts = []
    for a, b, u, v, w in zip(first.tolist(), second.tolist(), cut_first, cut_second, drop, strict=True):
        head, tail = words[a], words[b]
        spliced = head[: 1 + int(u * len(head))] + tail[int(v * len(tail)) :]
        if len(spliced) > 2:
            del spliced[int(w * len(spliced))]
        texts.append(" ".join(spliced))
    return texts


def _shift_texts(texts: list[str], shift: Shift, rng: np.random.Generator) -> list[str]:
    """Replace each word with probability ``shift.words`` by a new topic's word, drawn once for all texts."""
    split = [text.split(" ") for text in texts]
    total = sum(map(len, split))
    replaced = (rng.random(total) < shift.words).tolist()
    vocabulary = np.asarray(shift.vocabulary, dtype=object)
    picks = vocabulary[rng.integers(len(vocabulary), size=total)].tolist()
    shifted, start = [], 0
    for words in split:
        end = start + len(words)
        spans = zip(words, replaced[start:end], picks[start:end], strict=True)
        shifted.append(" ".join(pick if swap else word for word, swap, pick in spans))
        start = end
    return shifted


def _creation_times(n: int, period: tuple[str, str], rng: np.random.Generator) -> pd.Series:
    """Sorted times spread over ``period``, so that later ids are later projects, as in the real data."""
    start, end = (pd.Timestamp(moment).value for moment in period)
    if end < start:
        raise ValueError(f"period ends before it starts: {period}")
    stamps = np.sort(rng.integers(start, end + 1, n, dtype=np.int64)).astype("datetime64[ns]")
    return pd.Series(np.char.replace(np.datetime_as_string(stamps, unit="s"), "T", " "))


def synthesize(
    projects: pd.DataFrame,
    tags: pd.DataFrame,
    n: int,
    seed: int = 0,
    *,
    tag_mix: dict[str, float] | None = None,
    shift: Shift | None = None,
    first_id: int | None = None,
    period: tuple[str | datetime, str | datetime] | None = None,
) -> SyntheticBatch:
    """``n`` new projects recombined from the real ``projects`` and ``tags`` (frames as read from the source).

    ``tag_mix`` maps raw tags to weights (default: the real mix); ``shift`` departs from the real texts (see
    :class:`Shift`); ids run from ``first_id`` (default: one past the largest real id; give batches disjoint
    ranges to keep them apart); creation times spread over ``period`` (default: the real data's span).
    """
    if n < 0:
        raise ValueError(f"n must be non-negative, got {n}")
    rng = np.random.default_rng(seed)
    records = _real_records(projects, tags)
    shares = _tag_shares(records, tag_mix)
    if first_id is None:
        first_id = int(pd.to_numeric(records["id"]).max()) + 1
    if period is None:
        created = pd.to_datetime(records["created_on"], format="ISO8601", utc=True).dt.tz_localize(None)
        period = (created.min(), created.max())

    chosen_tags = rng.choice(shares.index.to_numpy(), size=n, p=shares.to_numpy())
    first, second = np.empty(n, dtype=np.int64), np.empty(n, dtype=np.int64)
    for tag, pool in records.groupby("tag").indices.items():
        rows = np.flatnonzero(chosen_tags == tag)
        first[rows], second[rows] = rng.choice(pool, size=(2, len(rows)))

    words = [description.split() for description in records["description"]]
    descriptions = _splice(words, first, second, rng)
    ids = np.arange(first_id, first_id + n, dtype=np.int64)
    titles = project_names(ids) + ": " + records["title"].str.strip().to_numpy()[first]
    labels = chosen_tags.astype(object)
    if shift is not None:
        shifted = np.flatnonzero(rng.random(n) < shift.rows)
        moved = _shift_texts([descriptions[row] for row in shifted], shift, rng)
        for row, text in zip(shifted.tolist(), moved, strict=True):
            descriptions[row] = text
        if shift.tag is not None:
            labels[shifted] = shift.tag

    id_text = pd.Series(ids).astype(str)
    return SyntheticBatch(
        projects=pd.DataFrame(
            {
                "id": id_text,
                "created_on": _creation_times(n, period, rng),
                "title": titles,
                "description": descriptions,
            },
            columns=PROJECT_COLUMNS,
        ),
        tags=pd.DataFrame({"id": id_text, "tag": labels}, columns=TAG_COLUMNS),
    )


def write_batch(batch: SyntheticBatch, directory: Path, key: str | None = None) -> tuple[Path, Path]:
    """Write ``projects_<key>.csv`` and ``tags_<key>.csv`` (``projects.csv``/``tags.csv`` without a key).

    Keyed files are what the landing sensor ingests as batch ``key``; unkeyed ones are a source directory's
    layout (``TAGIFAI_SOURCE``, which also needs a ``holdout.csv``).
    """
    directory.mkdir(parents=True, exist_ok=True)
    suffix = f"_{key}" if key else ""
    paths = directory / f"projects{suffix}.csv", directory / f"tags{suffix}.csv"
    batch.projects.to_csv(paths[0], index=False)
    batch.tags.to_csv(paths[1], index=False)
    return paths
