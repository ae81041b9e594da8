"""The plain-Python machine learning core: splits, model, tuning, evaluation and the promotion gate.

Nothing here knows about Dagster, MLflow or Feast, so every piece runs (and is tested) on bare
data frames with ``id, created_on, title, description, tag, text`` columns.
"""
