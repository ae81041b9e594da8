"""The shape of tagifai's data, shared by the transform, the suites and the ML core."""

PROJECT_COLUMNS = ["id", "created_on", "title", "description"]
TAG_COLUMNS = ["id", "tag"]
HOLDOUT_COLUMNS = [*PROJECT_COLUMNS, "tag"]
LABELED_COLUMNS = [*PROJECT_COLUMNS, "tag", "text"]

# The classes the model predicts; every other known raw tag folds into OTHER.
OTHER = "other"
CLASSES = ["computer-vision", "natural-language-processing", "mlops", OTHER]
# Raw tags seen in the Made With ML data. A tag outside this set is a labeling mistake, not a new class.
RAW_TAGS = [*CLASSES[:3], "graph-learning", "reinforcement-learning", "time-series", OTHER]

# Descriptions are abstracts of a few sentences; anything far longer is a scraping accident.
MAX_TITLE_LENGTH = 500
MAX_DESCRIPTION_LENGTH = 10_000

# Ids are plain decimal integers that fit in 64 bits: no sign, spaces or leading zeros, so that one
# project has exactly one spelling ("0900200" and "900200" would otherwise be two rows of one id).
ID_PATTERN = r"^(?:0|[1-9][0-9]{0,17})$"
# ISO 8601 dates and times, with an optional UTC offset; a time without an offset is read as UTC.
TIMESTAMP_PATTERN = (
    r"^\d{4}-\d{2}-\d{2}(?:[ T]\d{2}:\d{2}(?::\d{2}(?:\.\d{1,9})?)?)?(?:Z|[+-]\d{2}(?::?\d{2})?)?$"
)
# At least one character that is not white space.
NOT_BLANK = r"\S"
# How far in the future a creation time may be (clocks drift); anything later is a zone mistake.
FUTURE_TOLERANCE_MINUTES = 5
