"""The contract of ``POST /predict``: its limits, its request and answer, and how refusals read.

Everything a client can get wrong is decided here, before the model runs, and each problem is
reported with where it is (``texts[3]``) and what is wrong, never with the offending value,
which may be ten thousand characters long.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StrictStr, StringConstraints
from pydantic_core import PydanticCustomError

MAX_TEXT_CHARS = 10_000
# Bytes a body may spend per allowed character: two covers any text in Latin, Greek or Cyrillic
# script sent as UTF-8. A body over the limit is refused however its texts would validate, so
# that a worker never holds more than this per request (20 MB at 1,000 texts).
BYTES_PER_CHAR = 2


def max_body_bytes(max_texts: int) -> int:
    """The body limit for ``max_texts`` texts a request, with 64 KiB for the JSON around them."""
    return max_texts * MAX_TEXT_CHARS * BYTES_PER_CHAR + 64 * 1024


def _not_blank(text: str) -> str:
    if not text.strip():
        raise PydanticCustomError("blank_text", "text is empty or only whitespace")
    return text


Text = Annotated[StrictStr, StringConstraints(max_length=MAX_TEXT_CHARS), AfterValidator(_not_blank)]


def predict_request(max_texts: int) -> type[BaseModel]:
    """The body of ``POST /predict`` for a service that takes at most ``max_texts`` texts a request."""

    class PredictRequest(BaseModel):
        model_config = ConfigDict(extra="forbid")

        texts: list[Text] = Field(min_length=1, max_length=max_texts, description="title and description")

    return PredictRequest


class Prediction(BaseModel):
    tag: str
    confidence: float
    probabilities: dict[str, float]


class PredictResponse(BaseModel):
    request_id: str
    model_version: int
    predictions: list[Prediction] = Field(description="one per text, in the order sent")


def describe(error: dict) -> str:
    """One line for one of pydantic's validation errors."""
    if error["type"] == "json_invalid":
        return f"the body is not valid JSON ({error.get('ctx', {}).get('error', 'parse error')})"
    where = "".join(f"[{part}]" if isinstance(part, int) else f".{part}" for part in error["loc"][1:])
    if not where:
        return f'the body must be a JSON object {{"texts": [...]}} ({error["msg"]})'
    return f"{where.lstrip('.')}: {error['msg']}"


def is_json(content_type: str) -> bool:
    """The media types FastAPI parses as JSON: ``application/json`` and ``application/*+json``."""
    media = content_type.split(";")[0].strip().lower()
    return media == "application/json" or (media.startswith("application/") and media.endswith("+json"))
