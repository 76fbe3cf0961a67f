"""ExpectColumnValuesToReferenceActiveRows on a pandas batch against real PostgreSQL."""

from __future__ import annotations

import pandas as pd
import pytest
from great_expectations.compatibility.pydantic import ValidationError

from tests.helpers import insert_channel, insert_user, new_id, rendered_sentence, suite_round_trip
from ytempire_dq.expectations import ExpectColumnValuesToReferenceActiveRows

ACTIVE = dict(
    status_table="channels",
    status_key_column="user_id",
    status_column="status",
    inactive_statuses=["suspended", "deleted"],
)


def rule(db_url, **overrides):
    params = dict(column="user_id", table="users", table_key_column="id", database_url=db_url, **ACTIVE)
    params.update(overrides)
    return ExpectColumnValuesToReferenceActiveRows(**params)


def sessions(user_ids):
    return pd.DataFrame({"key": [f"session:{i}" for i in range(len(user_ids))], "user_id": user_ids})


def test_missing_inactive_and_null_users_count(db_url, empty_tables, frame_batch):
    db = empty_tables
    active = insert_user(db)
    insert_channel(db, active, status="suspended")
    insert_channel(db, active, status="paused")  # one channel neither suspended nor deleted is enough
    suspended, deleted, channelless = insert_user(db), insert_user(db), insert_user(db)
    insert_channel(db, suspended, status="suspended")
    insert_channel(db, deleted, status="deleted")
    frame = sessions([active, active, suspended, deleted, channelless, new_id(), None])
    result = frame_batch(frame, rule(db_url))
    assert not result.success and result.result["unexpected_count"] == 5
    assert result.result["partial_unexpected_list"] == [f"session:{i}" for i in range(2, 7)]
    # existence only (no status table): the three users without an active channel pass
    assert (
        frame_batch(
            frame, rule(db_url, status_table=None, status_key_column=None, status_column=None, inactive_statuses=[])
        ).result["unexpected_count"]
        == 2
    )


def test_an_empty_batch_passes_without_asking_the_database(frame_batch):
    result = frame_batch(sessions([]).astype(object), rule("postgresql://nobody@127.0.0.1:1/none"))
    assert result.success and result.result["unexpected_count"] == 0


def test_status_fields_go_together():
    with pytest.raises(ValidationError, match="go together"):
        rule("x", status_column=None)
    with pytest.raises(ValidationError, match="status_table"):
        rule("x", status_table="channels; --")


def test_sentence_and_round_trip(tmp_path):
    assert rendered_sentence(rule("x")) == (
        "Each user_id names an existing users.id that is active: at least one channels row (channels.user_id) "
        "whose channels.status is not one of suspended, deleted."
    )
    assert (
        rendered_sentence(
            rule("x", status_table=None, status_key_column=None, status_column=None, inactive_statuses=[])
        )
        == "Each user_id names an existing users.id."
    )
    stored, loaded = suite_round_trip(rule("${DATABASE_URL}"), tmp_path)
    assert stored["expectations"][0]["kwargs"]["inactive_statuses"] == ["suspended", "deleted"]
    assert loaded.status_table == "channels"


def test_looks_up_in_a_read_only_session(db_url, empty_tables, frame_batch):
    """The checks' role is read-only by default (docs/production.md, "Run it against production"), as a replica is: the
    lookup creates no table. A '%' in an inlined status is text, not a driver placeholder."""
    db = empty_tables
    active, suspended = insert_user(db), insert_user(db)
    insert_channel(db, active, status="active")
    insert_channel(db, suspended, status="suspended")
    read_only = db_url + "?options=-cdefault_transaction_read_only%3Don"
    frame = sessions([active, suspended, new_id()])
    result = frame_batch(frame, rule(read_only, inactive_statuses=["suspended", "50%_off"]))
    assert result.exception_info.get("exception_message") is None, result.exception_info
    assert result.result["unexpected_count"] == 2
    assert result.result["partial_unexpected_list"] == ["session:1", "session:2"]
