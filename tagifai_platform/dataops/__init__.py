"""DataOps: extract, validate and label tagifai's data, one batch at a time."""
