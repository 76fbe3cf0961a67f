"""Shared set-up for the custom-expectation tests: one ephemeral GX context per test module.

Each module gets its own migrated database (``db_url``); here a GX context with a Postgres data
source on it and one whole-table batch, the way the ``cross_table`` suite runs (the rules name
their own tables, so which table the batch is does not matter). Rows are inserted with plain SQL;
every test starts from empty tables.
"""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from ytempire_dq.db.connect import connect


@dataclass
class GX:
    context: object
    batch_definition: object

    def validate(self, expectation, result_format="SUMMARY"):
        """One expectation against the batch (GX's ``batch.validate``)."""
        batch = self.batch_definition.get_batch()
        return batch.validate(expectation, result_format=result_format)

    def validate_suite(self, suite_name, *expectations, result_format="SUMMARY"):
        """A suite of the expectations through a ValidationDefinition, as checkpoints run them."""
        import great_expectations as gx

        suite = self.context.suites.add(gx.ExpectationSuite(name=suite_name))
        for expectation in expectations:
            suite.add_expectation(expectation)
        definition = self.context.validation_definitions.add(
            gx.ValidationDefinition(name=suite_name, data=self.batch_definition, suite=suite)
        )
        return definition.run(result_format=result_format)


@pytest.fixture(scope="module")
def gx_env(db_url) -> GX:
    import great_expectations as gx

    import ytempire_dq.expectations  # noqa: F401  (registers the custom expectations)

    context = gx.get_context(mode="ephemeral")
    source = context.data_sources.add_postgres("ytempire", connection_string=db_url)
    asset = source.add_table_asset("users", table_name="users")
    return GX(context, asset.add_batch_definition_whole_table("all users"))


@pytest.fixture(scope="module")
def no_constraints(db_url):
    """Drop every foreign key and CHECK, like a restored copy without constraints."""
    conn = connect(db_url, autocommit=True)
    with conn.cursor() as cur:
        cur.execute(
            "SELECT conrelid::regclass::text, conname FROM pg_constraint "
            "WHERE contype IN ('f', 'c') AND connamespace = 'public'::regnamespace"
        )
        for table, name in cur.fetchall():
            cur.execute(f'ALTER TABLE {table} DROP CONSTRAINT "{name}"')
    conn.close()


@pytest.fixture
def empty_tables(db, no_constraints):
    """The module's database with its four tables emptied; yields a psycopg2 connection."""
    with db.cursor() as cur:
        cur.execute("TRUNCATE analytics, videos, channels, users")
    return db


@pytest.fixture(scope="module")
def frame_batch():
    """Validate one expectation against a pandas DataFrame, as the ``cache`` data source does:
    ``frame_batch(df, expectation)`` -> the ExpectationValidationResult."""
    import great_expectations as gx

    import ytempire_dq.expectations  # noqa: F401  (registers the custom expectations)

    context = gx.get_context(mode="ephemeral")
    definition = (
        context.data_sources.add_pandas("cache")
        .add_dataframe_asset("redis_snapshot")
        .add_batch_definition_whole_dataframe("whole_dataframe")
    )

    def validate(frame, expectation, result_format="SUMMARY"):
        batch = definition.get_batch(batch_parameters={"dataframe": frame})
        return batch.validate(expectation, result_format=result_format)

    return validate
