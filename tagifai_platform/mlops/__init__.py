"""MLOps: features, tuning, training, evaluation and the champion/challenger gate."""
