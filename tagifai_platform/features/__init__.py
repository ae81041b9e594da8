"""Feast feature repository (defined in code) and plain-Python functions around it.

Importing this package does not import feast (it takes seconds); the functions import it lazily.
"""

import os

os.environ.setdefault("FEAST_USAGE", "False")

from tagifai_platform.features.repo import (  # noqa: E402
    FEATURE_VIEW,
    FEATURES,
    ONLINE_FEATURE_VIEW,
    ONLINE_FEATURES,
    PROJECT,
)
from tagifai_platform.features.store import (  # noqa: E402
    entity_frame,
    feature_store,
    offline_frame,
    online_features,
    publish_features,
    training_frame,
)

__all__ = [
    "FEATURES",
    "FEATURE_VIEW",
    "ONLINE_FEATURES",
    "ONLINE_FEATURE_VIEW",
    "PROJECT",
    "entity_frame",
    "feature_store",
    "offline_frame",
    "online_features",
    "publish_features",
    "training_frame",
]
