"""The row keys the fast path (:mod:`ytempire_dq.run.validation`) reads while it validates, so that the
quarantine (:mod:`ytempire_dq.store.quarantine`) need not scan a failed rule's rows once more: a column
map rule's keys come with its samples, a cross-table rule's from its own result. The SQL rules'
come with their count (``fast._sql_rules``). What cannot be had this way (more offending rows than
a sample holds, no primary key) the quarantine reads itself."""

from __future__ import annotations

from typing import Any

from ytempire_dq.gx import fast_hooks
from ytempire_dq.gx import validator as gx_steps


def samples_with_keys(
    validator: Any,
    known: dict,
    sampled: list,
    by_id: dict,
    fmt: dict,
    vd: Any,
    captured: Any,
    fell_back: Any,
    keep_apart: frozenset = frozenset(),
    filters: dict | None = None,
) -> dict:
    """For each column map rule about to get its samples: GX's own sample query (the same SELECT,
    WHERE and LIMIT), with the table's primary key added, run here; its values are handed to GX as
    the rule's ``unexpected_values`` metric (``known``, so GX does not query them), and when they
    are all of the rule's offending rows (at most the sample size) their keys go to
    ``captured.keys``: the quarantine does not scan the table again for them. The rules whose
    samples hold all their bad rows are read together, one scan per batch for all of them
    (``fast_hooks.column_values_together``; ``keep_apart``: the columns of an incremental run's
    bound, whose conditions keep their own scan); each gets the same rows, in the table's order. A
    rule whose query cannot be built or run here gets GX's own sample query (in ``fell_back``, with
    its cause: :class:`ytempire_dq.run.validation.FellBack`).

    ``filters`` (``{expectation id: (condition, count)}``, the failed row-filter SQL rules whose
    keys :func:`ytempire_dq.run.row_filters.capture_keys` would read in a scan of its own) are read
    in the same statement, their keys as ``row_key`` builds them. Returns the ones not read here."""
    import sqlalchemy as sa

    from ytempire_dq.locations import definition_table
    from ytempire_dq.store import row_keys

    gx_validator = gx_steps.legacy(validator)
    engine = gx_validator.execution_engine
    table = definition_table(vd)
    runtime = {"result_format": dict(fmt)}
    with engine.engine.connect() as conn:
        pk = row_keys.primary_key(conn, table, captured.primary_keys)
        conn.rollback()
    filters = dict(filters or {})
    if not pk or str(fmt["result_format"]).upper() == "COMPLETE":
        return filters
    limit = fmt["partial_unexpected_count"]
    keys = [sa.column(c).label(f"dq_key_{i}") for i, c in enumerate(pk)]

    def _samples(exp: Any, values: Any, total: int, rows: list[tuple]) -> None:
        """``rows`` (value, *key) are the rule's samples; all its bad rows: their keys too."""
        known[values.id] = [row[0] for row in rows]
        if len(rows) == total and all(isinstance(v, (str, int)) or _is_uuid(v) for row in rows for v in row[1:]):
            found = [row_keys.key_text(pk, row[1:]) for row in rows]
            captured.keys[(vd.name, exp.id)] = row_keys.Keys(found, total)

    prepared = []  # (rule, its unexpected_values metric, its bad rows, its condition, its own query)
    for exp in sampled:
        map_metric = getattr(exp, "map_metric", None) or ""
        total = (by_id[exp.id].result or {}).get("unexpected_count")
        if not map_metric.startswith("column_values.") or map_metric == "column_values.unique" or not total:
            continue
        try:  # as GX validates it: suite parameters substituted, batch_id set
            _, (values, count) = gx_steps.prepared_rule(
                gx_validator, exp, runtime, (f"{map_metric}.unexpected_values", f"{map_metric}.unexpected_count")
            )
            condition = gx_steps.resolved_metric(
                gx_validator, f"{map_metric}.condition", count.metric_domain_kwargs, count.metric_value_kwargs
            )
            columns = gx_steps.table_columns(gx_validator)
            query = fast_hooks.column_values_query(engine, map_metric, condition, columns)
        except gx_steps.prepare_errors() as exc:  # GX runs its own sample query, and reports its errors
            fell_back.add(exp, "building its sample query", exc)
            continue
        if query is None:
            fell_back.add(exp, "building its sample query", f"GX selects {map_metric}'s rows itself")
            continue
        prepared.append((exp, values, total, condition, query.add_columns(*keys)))
    whole = [p for p in prepared if p[2] <= limit]  # their samples are all their bad rows
    done = set()
    if whole:
        columns = gx_steps.table_columns(gx_validator)
        named = list(filters.items())
        statements = fast_hooks.column_values_together(
            engine, [p[3] for p in whole], columns, keep_apart, tuple(condition for _, (condition, _) in named)
        )
        row_key = sa.cast(row_keys.pk_object(pk), sa.Text)
        for query, positions, filtered in statements:
            try:
                selected = [*keys, row_key.label("dq_row_key")] if filtered else keys
                with engine.engine.connect() as conn:  # the run's snapshot, as GX's own queries
                    row_keys.few_rows(conn)
                    rows = conn.execute(query.add_columns(*selected)).fetchall()
                    conn.rollback()
            except sa.exc.SQLAlchemyError:  # (one rule's condition may be what raises) each its own query
                continue
            if filtered:  # the filters' keys, as row_filters.capture_keys reads them
                for j, (exp_id, (_, total)) in enumerate(named):
                    found = [row._mapping["dq_row_key"] for row in rows if row._mapping[f"dq_filter_{j}"]]
                    captured.keys[(vd.name, exp_id)] = row_keys.Keys(found, total)
                    filters.pop(exp_id)
            tail = slice(-len(pk) - 1, -1) if filtered else slice(-len(pk), None)  # the key columns
            for i in positions:
                exp, values, total, _, _ = whole[i]
                mine = [row for row in rows if row._mapping[f"dq_rule_{i}"]]
                if len(mine) == total:  # else: its own query below
                    _samples(exp, values, total, [(row._mapping[f"dq_value_{i}"], *row[tail]) for row in mine])
                    done.add(exp.id)
    for exp, values, total, _, query in prepared:
        if exp.id in done:
            continue
        try:
            rows = engine.execute_query(query.limit(limit)).fetchall()
        except sa.exc.SQLAlchemyError as exc:  # GX runs its own sample query, and reports its errors
            fell_back.add(exp, "running its sample query", exc)
            continue
        _samples(exp, values, total, [tuple(row) for row in rows])
    return filters


def _is_uuid(value: Any) -> bool:
    import uuid

    return isinstance(value, uuid.UUID)


def keys_from_results(validator: Any, expectations: list, by_id: dict, vd: Any, captured: Any) -> None:
    """``captured.keys`` of the failed cross-table rules whose results list every offending row
    (:func:`ytempire_dq.store.row_keys.sample_keys`): the quarantine does not run their query again."""
    from ytempire_dq.store import row_keys

    failed = [e for e in expectations if not by_id[e.id].success and (vd.name, e.id) not in captured.keys]
    if not failed:
        return
    with gx_steps.legacy(validator).execution_engine.engine.connect() as conn:
        for e in failed:
            keys = row_keys.sample_keys(conn, e, by_id[e.id], captured.primary_keys)
            if keys is not None:
                captured.keys[(vd.name, e.id)] = keys
        conn.rollback()
