"""The Redis cache as a GX data source: its key conventions and the dump that turns it into a pandas
DataFrame for expectations (:mod:`.dump`), one batch per run (:mod:`.batch`). The cache's seed
data is a fixture (:mod:`ytempire_dq.fixtures.cache_seed`)."""
