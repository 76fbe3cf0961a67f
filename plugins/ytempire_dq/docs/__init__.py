"""Data Docs: the site builder, its renderers and pages (index, rule history), assets and templates."""
