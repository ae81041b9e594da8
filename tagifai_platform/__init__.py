"""tagifai_platform: the whole life of the tagifai text classifier on Dagster assets."""
