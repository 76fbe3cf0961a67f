"""Database tooling: connections, migrations, the checking role (seed data and defects: ytempire_dq.fixtures)."""
