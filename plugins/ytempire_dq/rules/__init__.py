"""The rules as files: suite files, their lint, drafting a suite from a table's profile."""
