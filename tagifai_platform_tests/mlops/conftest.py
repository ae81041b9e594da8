"""MLOps fixtures: the same temporary instance and definitions as the DataOps tests."""

from tagifai_platform_tests.dataops.conftest import defs, instance  # noqa: F401 - fixtures
