"""Old import path of :mod:`ytempire_dq.docs.renderers`, kept for GX configurations written before
the sub-packages; remove in the next release."""

from ytempire_dq.docs.renderers import (
    EscapedExpectationSuitePageRenderer,
    EscapedValidationResultsPageRenderer,
    RuleBulletListContentBlockRenderer,
    RuleValidationResultsTableContentBlockRenderer,
)

__all__ = [
    "EscapedExpectationSuitePageRenderer",
    "EscapedValidationResultsPageRenderer",
    "RuleBulletListContentBlockRenderer",
    "RuleValidationResultsTableContentBlockRenderer",
]
