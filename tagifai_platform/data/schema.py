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
