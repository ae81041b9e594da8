"""Active learning: which logged requests to send to annotators, and how their answers come back.

Annotation is the scarce resource, and the texts the model is least sure about are the ones a
label teaches it most (uncertainty sampling); they are also where a new topic shows up first.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from pathlib import Path

import pandas as pd

from tagifai_platform.data.schema import CLASSES, LABELED_COLUMNS

QUEUE_COLUMNS = ["request_id", "logged_at", "text", "predicted_tag", "confidence", "model_version", "tag"]
ANNOTATED_COLUMNS = ["logged_at", "text", "tag"]  # what an annotated file needs of the queue's columns


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


def read_labeling_file(path: Path, required: Iterable[str] = ("text",)) -> pd.DataFrame:
    """One queue or annotated CSV as strings, with a ``file`` column; errors name the file.

    Annotators open these files in spreadsheets, which save in the machine's code page (cp1252 on
    Windows) or drop columns; either used to surface as a bare ``UnicodeDecodeError`` or
    ``KeyError 'logged_at'`` from deep inside a retraining.
    """
    try:
        frame = pd.read_csv(path, dtype=str, encoding="utf-8")
    except UnicodeDecodeError as error:
        raise ValueError(
            f"{path} is not UTF-8 (byte {error.start}: {error.object[error.start : error.start + 1]!r});"
            " save it as CSV UTF-8"
        ) from None
    except pd.errors.ParserError as error:
        raise ValueError(f"{path} is not a readable CSV: {error}") from None
    missing = [column for column in required if column not in frame.columns]
    if missing:
        raise ValueError(f"{path} lacks the columns {missing}; keep the queue file's columns {QUEUE_COLUMNS}")
    return frame.assign(file=str(path))


def read_annotated(files: Iterable[Path]) -> pd.DataFrame:
    """Every annotated file, concatenated (``ANNOTATED_COLUMNS`` at least, plus ``file``)."""
    frames = [read_labeling_file(path, ANNOTATED_COLUMNS) for path in sorted(files)]
    if not frames:
        return pd.DataFrame(columns=[*ANNOTATED_COLUMNS, "file"])
    return pd.concat(frames, ignore_index=True)


def true_tags(labeled: pd.DataFrame, annotated: pd.DataFrame) -> pd.DataFrame:
    """The true tag of every text known so far (``text``, ``tag``): labeled batches, then annotated
    requests, the later winning. Annotations without a tag, or with one outside the classes (the
    retraining names those), say nothing about a served answer yet."""
    done = annotated[annotated["tag"].isin(CLASSES)]
    return pd.concat([labeled[["text", "tag"]], done[["text", "tag"]]], ignore_index=True).drop_duplicates(
        subset=["text"], keep="last"
    )


def texts_out_for_labeling(files: Iterable[Path]) -> set[str]:
    """Texts already queued or annotated in ``files``: a new queue must not send them again.

    Excluding only annotated texts let two ``inspect`` runs on the same traffic queue the same
    texts twice, while the first queue was still with the annotators.
    """
    return {text for path in files for text in read_labeling_file(path)["text"].dropna()}


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
    unknown = done[~done["tag"].isin(CLASSES)]
    if len(unknown):
        where = sorted(set(unknown["file"])) if "file" in unknown else []
        raise ValueError(
            f"annotated tags {sorted(set(unknown['tag']))} are not among {CLASSES}"
            + (f" (in {', '.join(where)})" if where else "")
        )
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
