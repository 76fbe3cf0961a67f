"""ytempire-dq: data-quality rules for the YTEMPIRE platform, run with Great Expectations.

Layers, bottom first (a module imports its own layer or lower ones; ``tests/test_layers.py``):

- leaves: ``errors``, ``config``, ``locations``, ``pii``, ``values``;
- servers: ``db/`` (connections, migrations, roles), ``cache/`` (Redis as a DataFrame);
- the GX boundary: ``gx/`` (context, internals, the fast path's hooks) and ``sql_guard``;
- rules: ``expectations/`` (one custom expectation per file), ``rules/`` (suite files, lint, suggest);
- a run's parts: ``run/`` (the ``Run`` value, validation, snapshot, incremental plan, lock, report);
- books: ``store/`` (history, metrics, quarantine, retention), ``docs/`` (Data Docs);
- the run: ``run.checkpoint.run_checkpoint``, top to bottom: files, lock, pre-flight, one snapshot,
  validation, actions, history, report;
- around it: ``actions/``, ``ops/`` (servers, backups, monitor), ``fixtures/`` (seed data, an extra);
- commands: ``cli/``.

Importing this package stays cheap (no GX import); the GX side is loaded by
``ytempire_dq.gx.context.open_context``, which imports every custom expectation and action first.
The user documentation's concepts page (docs/concepts.md) says the same at length.
"""

__version__ = "0.1.0"
