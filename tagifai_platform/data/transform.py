"""From raw projects and tags to the labeled data set the model learns from."""

from __future__ import annotations

import re

import pandas as pd

from tagifai_platform.data.schema import CLASSES, LABELED_COLUMNS, OTHER

_WHITESPACE = re.compile(r"\s+")


def fold_tag(tag: str) -> str:
    """Tags the model does not predict become ``other``, as in the lesson."""
    return tag if tag in CLASSES else OTHER


def build_text(title: pd.Series, description: pd.Series) -> pd.Series:
    combined = title.fillna("") + " " + description.fillna("")
    return combined.map(lambda value: _WHITESPACE.sub(" ", value).strip())


def label_projects(projects: pd.DataFrame, tags: pd.DataFrame) -> pd.DataFrame:
    """Join on id, drop untagged projects, fold tags, build ``text`` and drop duplicates.

    Expects frames that passed the raw suites (integer ids, parseable dates). Duplicates are
    judged on the text a model would see, keeping the earliest project.
    """
    projects = projects.assign(
        id=projects["id"].astype("int64"), created_on=pd.to_datetime(projects["created_on"])
    )
    tags = tags.assign(id=tags["id"].astype("int64")).dropna(subset=["tag"])
    labeled = projects.merge(tags[["id", "tag"]], on="id", how="inner", validate="one_to_one")
    labeled["tag"] = labeled["tag"].map(fold_tag)
    labeled["text"] = build_text(labeled["title"], labeled["description"])
    labeled = (
        labeled.sort_values(["created_on", "id"])
        .drop_duplicates(subset=["id"])
        .drop_duplicates(subset=["text"])
    )
    return labeled[LABELED_COLUMNS].reset_index(drop=True)


def tag_distribution(frame: pd.DataFrame, column: str = "tag") -> dict[str, int]:
    return {str(tag): int(count) for tag, count in frame[column].value_counts().sort_index().items()}


def union_batches(labeled: pd.DataFrame, batch_order: list[str]) -> pd.DataFrame:
    """One row per project across batches: a later batch's row replaces an earlier one's.

    Batches arrive in ``batch_order``; relabeling a project is done by sending it again.
    """
    rank = {batch: position for position, batch in enumerate(batch_order)}
    ordered = labeled.assign(_rank=labeled["batch"].map(rank).fillna(len(rank))).sort_values(["_rank", "id"])
    unique = ordered.drop_duplicates(subset=["id"], keep="last").drop_duplicates(subset=["text"], keep="last")
    return unique.drop(columns=["_rank"]).sort_values("id").reset_index(drop=True)


def label_holdout(holdout: pd.DataFrame) -> pd.DataFrame:
    """The holdout in the labeled layout (typed, tags folded, ``text`` built), without dropping rows."""
    holdout = holdout.assign(
        id=holdout["id"].astype("int64"),
        created_on=pd.to_datetime(holdout["created_on"]),
        tag=holdout["tag"].map(fold_tag),
        text=build_text(holdout["title"], holdout["description"]),
    )
    return holdout[LABELED_COLUMNS].reset_index(drop=True)
