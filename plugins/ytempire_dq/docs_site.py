"""Old import path of :mod:`ytempire_dq.docs.site`, kept for GX configurations written before the
sub-packages; remove in the next release."""

from ytempire_dq.docs.site import IncrementalSiteBuilder

__all__ = ["IncrementalSiteBuilder"]
