"""The row keys the fast path (:mod:`ytempire_dq.run.validation`) reads while it validates, so that the
quarantine (:mod:`ytempire_dq.store.quarantine`) need not scan a failed rule's rows once more: a column
map rule's keys come with its samples, a cross-table rule's from its own result. The SQL rules'
come with their count (``fast._sql_rules``). What cannot be had this way (more offending rows than
a sample holds, no primary key) the quarantine reads itself."""

from __future__ import annotations

from typing import Any

from ytempire_dq.gx import compat, fast_hooks


def samples_with_keys(
    validator: Any, known: dict, sampled: list, by_id: dict, fmt: dict, vd: Any, captured: Any
) -> None:
    """For each column map rule about to get its samples: GX's own sample query (the same SELECT,
    WHERE and LIMIT), with the table's primary key added, run here; its values are handed to GX as
    the rule's ``unexpected_values`` metric (``known``, so GX does not query them), and when they
    are all of the rule's offending rows (at most the sample size) their keys go to
    ``captured.keys``: the quarantine does not scan the table again for them."""
    import copy
    import json

    import sqlalchemy as sa
    from great_expectations.validator.metric_configuration import MetricConfiguration

    from ytempire_dq.store import quarantine, row_keys

    gx_validator = compat.wrapped_validator(validator)
    engine = gx_validator.execution_engine
    table = quarantine.asset_table(vd)
    runtime = {"result_format": dict(fmt)}
    with engine.engine.connect() as conn:
        pk = row_keys.primary_key(conn, table, captured.primary_keys)
        conn.rollback()
    if not pk or str(fmt["result_format"]).upper() == "COMPLETE":
        return
    for exp in sampled:
        map_metric = getattr(exp, "map_metric", None) or ""
        total = (by_id[exp.id].result or {}).get("unexpected_count")
        if not map_metric.startswith("column_values.") or map_metric == "column_values.unique" or not total:
            continue
        try:
            (cfg,) = gx_validator.process_expectations_for_validation([copy.deepcopy(exp.configuration)])
            cfg.kwargs["batch_id"] = gx_validator.active_batch_id
            deps = cfg.to_domain_obj().get_validation_dependencies(
                execution_engine=engine, runtime_configuration=runtime
            )
            values = deps.get_metric_configuration(f"{map_metric}.unexpected_values")
            count = deps.get_metric_configuration(f"{map_metric}.unexpected_count")
            condition = gx_validator.get_metric(
                MetricConfiguration(f"{map_metric}.condition", count.metric_domain_kwargs, count.metric_value_kwargs)
            )
            columns = gx_validator.get_metric(
                MetricConfiguration("table.columns", {"batch_id": gx_validator.active_batch_id}, {})
            )
            query = fast_hooks.column_values_query(engine, map_metric, condition, columns)
            if values is None or query is None:
                continue
            query = query.add_columns(*(sa.column(c).label(f"dq_key_{i}") for i, c in enumerate(pk)))
            rows = engine.execute_query(query.limit(fmt["partial_unexpected_count"])).fetchall()
        except Exception:  # noqa: BLE001, S112 - GX runs its own sample query, and reports its errors
            continue
        known[values.id] = [row.unexpected_values for row in rows]
        if len(rows) == total and all(isinstance(v, (str, int)) or _is_uuid(v) for row in rows for v in row[1:]):
            keys = [json.dumps({c: _jsonable_key(v) for c, v in zip(pk, row[1:])}) for row in rows]
            captured.keys[(vd.name, exp.id)] = row_keys.Keys(keys, total)


def _is_uuid(value: Any) -> bool:
    import uuid

    return isinstance(value, uuid.UUID)


def _jsonable_key(value: Any) -> Any:
    """A primary key value as ``to_jsonb`` writes it (a uuid as its text)."""
    return str(value) if _is_uuid(value) else value


def keys_from_results(validator: Any, expectations: list, by_id: dict, vd: Any, captured: Any) -> None:
    """``captured.keys`` of the failed cross-table rules whose results list every offending row
    (:func:`ytempire_dq.store.row_keys.sample_keys`): the quarantine does not run their query again."""
    from ytempire_dq.store import row_keys

    failed = [e for e in expectations if not by_id[e.id].success and (vd.name, e.id) not in captured.keys]
    if not failed:
        return
    with compat.wrapped_validator(validator).execution_engine.engine.connect() as conn:
        for e in failed:
            keys = row_keys.sample_keys(conn, e, by_id[e.id], captured.primary_keys)
            if keys is not None:
                captured.keys[(vd.name, e.id)] = keys
        conn.rollback()
