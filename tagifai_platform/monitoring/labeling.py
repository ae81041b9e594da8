"""Active learning: which logged requests to send to annotators, and how their answers come back.

Annotation is the scarce resource, and the texts the model is least sure about are the ones a
label teaches it most (uncertainty sampling); they are also where a new topic shows up first.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable

import pandas as pd

from tagifai_platform.data.schema import CLASSES, LABELED_COLUMNS

QUEUE_COLUMNS = ["request_id", "logged_at", "text", "predicted_tag", "confidence", "model_version", "tag"]


def labeling_queue(window: pd.DataFrame, size: int, *, exclude_texts: Iterable[str] = ()) -> pd.DataFrame:
    """The ``size`` lowest-confidence requests of ``window``, one per text, with an empty ``tag`` to fill.

    A text requested many times is labeled once, through its latest request; ``exclude_texts``
    (those already labeled or queued) keeps annotators from seeing a text twice. Ties in
    confidence go to the most recent request.
    """
    candidates = window[~window["text"].isin(set(exclude_texts))]
    latest = candidates.sort_values("logged_at").drop_duplicates(subset=["text"], keep="last")
    queue = latest.sort_values(["confidence", "logged_at"], ascending=[True, False], kind="stable").head(size)
    return (
        queue.rename(columns={"tag": "predicted_tag"}).assign(tag=None)[QUEUE_COLUMNS].reset_index(drop=True)
    )


def annotation_id(text: str) -> int:
    """A negative 60-bit id from the text: project ids are positive, so the two never meet, and the
    training set keeps one integer id column."""
    return -int(hashlib.sha1(text.encode()).hexdigest()[:15], 16)


def annotations_as_labeled(annotated: pd.DataFrame) -> pd.DataFrame:
    """Annotated queue rows in the labeled layout, ready for ``compose_retraining_dataset``.

    Rows still without a tag are skipped (annotation is done in several sittings). A tag outside
    the model's classes is a labeling mistake to fix, so it fails here rather than teach the model
    a class it cannot predict. The text's hash becomes the id (a request may carry many texts, and
    the same text labeled twice is one project), the whole text the title, and the
    request time the creation time, as naive UTC like the projects' dates.
    """
    done = annotated.dropna(subset=["tag"])
    done = done[done["tag"].astype(str).str.strip() != ""]
    unknown = sorted(set(done["tag"]) - set(CLASSES))
    if unknown:
        raise ValueError(f"annotated tags {unknown} are not among {CLASSES}")
    return pd.DataFrame(
        {
            "id": done["text"].map(annotation_id),
            "created_on": pd.to_datetime(done["logged_at"], utc=True).dt.tz_localize(None),
            "title": done["text"],
            "description": "",
            "tag": done["tag"],
            "text": done["text"],
        },
        columns=LABELED_COLUMNS,
    ).reset_index(drop=True)
