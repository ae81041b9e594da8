"""Plain-Python data core: reading sources, the transform and the validation suites (no Dagster here)."""
