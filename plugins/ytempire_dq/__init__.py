"""ytempire-dq: data-quality rules for the YTEMPIRE platform, run with Great Expectations.

Importing this package stays cheap (no GX import); the GX side is loaded by
``ytempire_dq.gx.context.open_context`` which imports every custom expectation and action first.
"""

__version__ = "0.1.0"
