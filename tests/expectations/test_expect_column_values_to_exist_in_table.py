"""ExpectColumnValuesToExistInTable on a real PostgreSQL: orphans counted exactly, in one query."""

from __future__ import annotations

import pytest
from great_expectations.compatibility.pydantic import ValidationError

from tests.helpers import (
    data_docs_pages,
    insert_channel,
    insert_user,
    new_id,
    rendered_sentence,
    statements_during,
    suite_round_trip,
)
from ytempire_dq.expectations import ExpectColumnValuesToExistInTable


def orphan_rule(**overrides) -> ExpectColumnValuesToExistInTable:
    params = dict(table="channels", column="user_id", referenced_table="users")
    return ExpectColumnValuesToExistInTable(**{**params, **overrides})


def test_clean_data_passes(gx_env, empty_tables):
    db = empty_tables
    for tier in ("free", "starter"):
        user = insert_user(db, tier)
        insert_channel(db, user)
        insert_channel(db, user, status="paused")

    result = gx_env.validate(orphan_rule())

    assert result.success is True, result
    assert result.result["observed_value"] == 0
    assert result.result["unexpected_count"] == 0
    assert result.result["partial_unexpected_list"] == []


def test_orphans_fail_with_the_exact_count_and_their_values(gx_env, empty_tables):
    db = empty_tables
    user = insert_user(db)
    insert_channel(db, user)
    gone_a, gone_b = sorted([new_id(), new_id()])
    for _ in range(3):
        insert_channel(db, gone_a)  # three channels of one deleted user
    insert_channel(db, gone_b)

    result = gx_env.validate(orphan_rule())

    assert result.success is False
    assert result.result["observed_value"] == 4  # child rows, not distinct values
    assert result.result["unexpected_count"] == 4
    assert result.result["partial_unexpected_list"] == [gone_a, gone_b]
    assert result.result["details"]["unexpected_rows"] == [
        {"user_id": gone_a, "child_rows": 3},
        {"user_id": gone_b, "child_rows": 1},
    ]


def test_the_sample_is_capped_but_the_count_is_not(gx_env, empty_tables):
    db = empty_tables
    gone = sorted(new_id() for _ in range(25))
    for user_id in gone:
        insert_channel(db, user_id)

    result = gx_env.validate(orphan_rule(), result_format="BASIC")

    assert result.result["unexpected_count"] == 25
    assert result.result["partial_unexpected_list"] == gone[:20]
    assert "details" not in result.result  # BASIC: no sample rows


def test_a_non_default_referenced_column(gx_env, empty_tables):
    db = empty_tables
    user = insert_user(db)
    insert_channel(db, user)
    with db.cursor() as cur:
        cur.execute("UPDATE channels SET niche = 'nobody@example.com'")

    rule = orphan_rule(column="niche", referenced_column="email")
    result = gx_env.validate(rule)

    assert result.result["unexpected_count"] == 1
    assert result.result["partial_unexpected_list"] == ["nobody@example.com"]


@pytest.mark.parametrize(
    "field, value",
    [
        ("table", "users; DROP TABLE x"),
        ("referenced_table", "a.b.c"),
        ("column", "user id"),
        ("referenced_column", '"id"'),
    ],
)
def test_a_bad_identifier_is_refused_when_built(field, value):
    with pytest.raises(ValidationError) as caught:
        orphan_rule(**{field: value})
    assert caught.value.errors()[0]["loc"] == (field,)
    assert "is not a plain" in str(caught.value)


def test_a_missing_table_fails_with_the_database_error(gx_env, empty_tables):
    result = gx_env.validate(orphan_rule(referenced_table="no_such_table"))

    assert result.success is False
    messages = [info["exception_message"] for info in result.exception_info.values()]
    assert any('relation "no_such_table" does not exist' in m for m in messages), messages


def test_neither_building_loading_nor_running_prints_the_batch_warning(gx_env, empty_tables, tmp_path, capsys):
    suite_round_trip(orphan_rule(), tmp_path)
    gx_env.validate(orphan_rule())
    assert "{batch}" not in capsys.readouterr().out


def test_a_schema_qualified_table(gx_env, empty_tables):
    insert_channel(empty_tables, new_id())
    result = gx_env.validate(orphan_rule(table="public.channels", referenced_table="public.users"))
    assert result.result["unexpected_count"] == 1


def test_identifiers_are_quoted_by_sqlalchemy():
    query = orphan_rule(table="order", column="User", referenced_table="select.user").build_query()
    assert 'FROM "order" AS child' in query
    assert 'child."User"' in query
    assert 'FROM "select"."user" AS parent' in query


def test_the_sentence_names_every_parameter():
    sentence = rendered_sentence(orphan_rule())
    assert sentence == "Every channels.user_id value exists in users.id (nulls are not checked)."


def test_round_trips_through_a_suite_file(tmp_path):
    rule = orphan_rule(
        referenced_column="uid",
        meta={"rule_id": "channels.user_exists"},
        description="Every channel belongs to an existing user.",
    )
    stored, loaded = suite_round_trip(rule, tmp_path)

    assert stored["expectations"][0]["type"] == "expect_column_values_to_exist_in_table"
    assert stored["expectations"][0]["kwargs"] == {
        "table": "channels",
        "column": "user_id",
        "referenced_table": "users",
        "referenced_column": "uid",
    }
    assert isinstance(loaded, ExpectColumnValuesToExistInTable)
    assert loaded.referenced_column == "uid"
    assert loaded.meta == {"rule_id": "channels.user_exists"}
    assert loaded.description == "Every channel belongs to an existing user."
    assert loaded.build_query() == rule.build_query()


def test_runs_as_one_query(gx_env, empty_tables):
    statements = statements_during(lambda: gx_env.validate(orphan_rule()))
    assert len(statements) == 1, statements
    assert "NOT (EXISTS" in statements[0]


def test_runs_in_a_suite_through_a_validation_definition(gx_env, empty_tables):
    insert_channel(empty_tables, new_id())
    run = gx_env.validate_suite("orphans", orphan_rule(meta={"rule_id": "channels.user_exists"}))

    (result,) = run.results
    assert run.success is False
    assert result.result["unexpected_count"] == 1
    assert result.expectation_config.meta == {"rule_id": "channels.user_exists"}


def test_data_docs_show_the_sentence_or_the_description(db_url, empty_tables, tmp_path):
    gone = new_id()
    insert_channel(empty_tables, gone)
    pages = data_docs_pages(
        tmp_path,
        db_url,
        orphan_rule(),
        orphan_rule(
            table="videos",
            column="channel_id",
            referenced_table="channels",
            description="Every video belongs to an existing channel.",
        ),
    )

    for page in pages.values():
        assert "Every channels.user_id value exists in users.id (nulls are not checked)." in page
        # GX shows a description *instead of* the sentence
        assert "Every video belongs to an existing channel." in page
        assert "videos.channel_id" not in page
        assert "SELECT" not in page and "expect_column_values_to_exist_in_table" not in page
    assert gone in pages["validation"]  # the sampled unexpected value
    assert "1 unexpected row found." in pages["validation"]


def test_a_file_context_saves_and_loads_it_with_defaults_written_out(tmp_path):
    import json

    import great_expectations as gx

    context = gx.get_context(mode="file", project_root_dir=tmp_path)
    suite = context.suites.add(gx.ExpectationSuite(name="cross_table"))
    suite.add_expectation(orphan_rule(meta={"rule_id": "channels.user_exists"}))
    (path,) = (tmp_path / "gx" / "expectations").glob("cross_table.json")
    stored = json.loads(path.read_text())["expectations"][0]
    # GX alone would drop referenced_column (equal to its default); ours keeps every parameter
    assert stored["kwargs"]["referenced_column"] == "id"

    reloaded = gx.get_context(mode="file", project_root_dir=tmp_path).suites.get("cross_table")
    (loaded,) = reloaded.expectations
    assert isinstance(loaded, ExpectColumnValuesToExistInTable)
    assert loaded.meta == {"rule_id": "channels.user_exists"}
    reloaded.save()  # saving again changes nothing
    assert json.loads(path.read_text())["expectations"][0] == stored
