"""The Redis cache: its key conventions and seed data (:mod:`.seed`), and the snapshot that turns
it into a pandas DataFrame for expectations (:mod:`.snapshot`).

``ytempire_dq.cache.snapshot`` is the *function* (the import below shadows the submodule of the
same name on the package); for the module's other names use
``from ytempire_dq.cache.snapshot import scan_keys``, which works as usual.
"""

from __future__ import annotations

from ytempire_dq.cache.seed import CACHE_DEFECT_KINDS, RATE_LIMITS, count_defects, seed_cache
from ytempire_dq.cache.snapshot import snapshot

__all__ = ["CACHE_DEFECT_KINDS", "RATE_LIMITS", "count_defects", "seed_cache", "snapshot"]
