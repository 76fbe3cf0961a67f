"""A checkpoint run: pre-flight, the validation of each definition (the fast path and GX alone), the
run's snapshot and incremental plan, its lock and marks, and its report."""
