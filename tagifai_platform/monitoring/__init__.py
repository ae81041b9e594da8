"""The plain-Python core of the continual-learning loop: drift, policy, retraining data, labeling.

Nothing here knows about Dagster or MLflow: the monitoring assets hand these functions data
frames of logged predictions and plain values, and store what comes back as JSON.
"""
