"""Every batch of data (the configured source and each landing batch) is a partition of the raw and labeled assets."""

import dagster as dg

batches = dg.DynamicPartitionsDefinition(name="batches")
