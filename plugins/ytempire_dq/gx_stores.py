"""Old import path of :mod:`ytempire_dq.gx.stores`, kept for GX configurations written before the
sub-packages; remove in the next release."""

from ytempire_dq.gx.stores import BoundedValidationResultsStore, RuleExpectationsStore

__all__ = ["BoundedValidationResultsStore", "RuleExpectationsStore"]
