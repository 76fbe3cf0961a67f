"""Old import path of :mod:`ytempire_dq.docs.assets`, kept for GX configurations written before the
sub-packages; remove in the next release."""

from ytempire_dq.docs.assets import OfflinePageView

__all__ = ["OfflinePageView"]
