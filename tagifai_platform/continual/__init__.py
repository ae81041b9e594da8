"""Continual learning: monitoring the model in service and the policy engine that acts on it."""
