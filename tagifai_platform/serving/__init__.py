"""The prediction service: the ``champion`` model over HTTP, with every answer logged for monitoring.

Plain Python next to the registry, without Dagster: ``tagifai serve`` starts it, and the
prediction log's reader is the input the monitoring side consumes.
"""
