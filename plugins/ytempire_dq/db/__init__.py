"""Database tooling: connections, migrations, seed data with defect injection."""
