"""Malformed /predict requests, each with the status it must get and a phrase its message must name."""

from tagifai_platform.serving.schemas import MAX_TEXT_CHARS
from tagifai_platform.settings import Settings

MAX_TEXTS = Settings.serve_max_texts

JSON = {"content-type": "application/json"}

BAD_REQUESTS = {
    "not JSON": ({"content": b'{"texts": [nope', "headers": JSON}, 400, "not valid JSON"),
    "not sent as JSON": (
        {"content": b'{"texts": ["a"]}', "headers": {"content-type": "text/plain"}},
        415,
        "Content-Type: application/json",
    ),
    "a JSON list": ({"json": ["a text"]}, 422, 'JSON object {"texts"'),
    "no texts field": ({"json": {"text": ["a text"]}}, 422, "texts: Field required"),
    "an unknown field": ({"json": {"texts": ["a text"], "version": 2}}, 422, "version: Extra inputs"),
    "texts not a list": ({"json": {"texts": "a text"}}, 422, "texts: Input should be a valid list"),
    "an empty list": ({"json": {"texts": []}}, 422, "texts: List should have at least 1 item"),
    "too many texts": (
        {"json": {"texts": ["a text"] * (MAX_TEXTS + 1)}},
        422,
        f"texts: List should have at most {MAX_TEXTS} items",
    ),
    "a text too long": (
        {"json": {"texts": ["a text", "x" * (MAX_TEXT_CHARS + 1)]}},
        422,
        f"texts[1]: String should have at most {MAX_TEXT_CHARS} characters",
    ),
    "a number as text": (
        {"json": {"texts": ["a text", 42]}},
        422,
        "texts[1]: Input should be a valid string",
    ),
    "a null text": ({"json": {"texts": [None]}}, 422, "texts[0]: Input should be a valid string"),
    "a blank text": (
        {"json": {"texts": ["a text", " \n "]}},
        422,
        "texts[1]: text is empty or only whitespace",
    ),
}
