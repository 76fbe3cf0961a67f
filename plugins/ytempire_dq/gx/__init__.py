"""The GX boundary: the one place that opens the Data Context (``context``), the stores it is
configured with (``stores``), and every use of GX internals: ``compat`` (private names wrapped),
``validator`` (the legacy Validator steps and the suite result, written once), ``fast_hooks`` (the
fast path's scoped hooks) and ``results`` (whether a rule raised). Outside this subpackage the
package imports only GX's public and extension API (``tests/test_gx_boundary.py``)."""
