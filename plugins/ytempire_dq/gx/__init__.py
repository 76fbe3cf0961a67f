"""The GX boundary: the one place that opens the Data Context, the stores it is configured with,
and every use of GX internals."""
