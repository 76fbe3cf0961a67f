-- 003 monitoring views (the platform's monitoring section), fixed for PostgreSQL 15:
-- pg_stat_statements names its columns total_exec_time/mean_exec_time, and the extension may be
-- absent, so slow queries come from a function that reads it only when it is installed.

-- migrate:up
CREATE SCHEMA monitoring;

CREATE VIEW monitoring.connection_usage AS
SELECT count(*)::int                                         AS connections,
       current_setting('max_connections')::int               AS max_connections,
       round(100.0 * count(*) / current_setting('max_connections')::int, 1) AS used_pct,
       count(*) FILTER (WHERE state = 'active')::int         AS active,
       count(*) FILTER (WHERE state = 'idle in transaction')::int AS idle_in_transaction
FROM pg_stat_activity;

CREATE VIEW monitoring.long_running_queries AS
SELECT pid, usename, datname, state, now() - query_start AS duration, left(query, 200) AS query
FROM pg_stat_activity
WHERE state <> 'idle' AND query_start IS NOT NULL AND pid <> pg_backend_pid();

CREATE VIEW monitoring.table_bloat AS
SELECT schemaname, relname AS table_name, n_live_tup, n_dead_tup,
       CASE WHEN n_live_tup + n_dead_tup = 0 THEN 0
            ELSE round(100.0 * n_dead_tup / (n_live_tup + n_dead_tup), 2) END AS dead_tuple_pct,
       last_autovacuum, last_vacuum
FROM pg_stat_user_tables;

CREATE VIEW monitoring.table_sizes AS
SELECT schemaname, relname AS table_name,
       pg_total_relation_size(relid) AS total_bytes,
       pg_size_pretty(pg_total_relation_size(relid)) AS total_size,
       n_live_tup AS row_estimate
FROM pg_stat_user_tables;

CREATE VIEW monitoring.index_usage AS
SELECT schemaname, relname AS table_name, indexrelname AS index_name, idx_scan,
       pg_size_pretty(pg_relation_size(indexrelid)) AS index_size
FROM pg_stat_user_indexes;

CREATE VIEW monitoring.replication_lag AS
SELECT application_name, client_addr, state,
       pg_wal_lsn_diff(pg_current_wal_lsn(), replay_lsn) AS lag_bytes, replay_lag
FROM pg_stat_replication;

CREATE FUNCTION monitoring.slow_queries(min_mean_ms double precision DEFAULT 100)
RETURNS TABLE (query text, calls bigint, total_exec_time double precision,
               mean_exec_time double precision, rows bigint)
LANGUAGE plpgsql STABLE AS $$
BEGIN
    IF to_regclass('pg_stat_statements') IS NULL THEN
        RETURN;  -- extension not installed: no rows rather than an error
    END IF;
    RETURN QUERY EXECUTE
        'SELECT left(query, 200), calls, total_exec_time, mean_exec_time, rows
           FROM pg_stat_statements WHERE mean_exec_time >= $1
          ORDER BY mean_exec_time DESC LIMIT 50' USING min_mean_ms;
END $$;

CREATE VIEW monitoring.slow_queries AS SELECT * FROM monitoring.slow_queries(100);

-- migrate:down
DROP SCHEMA IF EXISTS monitoring CASCADE;
