"""What the Data Docs helpers do to values and assets, without a database or a browser (issue 14):
a bounded value never ends mid-UUID, a short value is kept on one line, a rule's verdict and the
tables a page names, and the site's assets (copied once, with their licences; a missing install
is one line naming the fix)."""

from __future__ import annotations

import json

import pytest
from great_expectations.core import ExpectationSuiteValidationResult, ExpectationValidationResult
from great_expectations.expectations.expectation_configuration import ExpectationConfiguration

from ytempire_dq.docs import assets as docs_assets
from ytempire_dq.docs.renderers import as_text
from ytempire_dq.docs.verdict import failed_first, rule_tables, verdict
from ytempire_dq.errors import YtdqError
from ytempire_dq.run.report import VALUE_CHARS, bounded_text

UUID = "0be4bac8-2001-4ca6-8745-ab25fbee5133"


@pytest.mark.parametrize("offset", [1, 10, 20, 35])
def test_a_bounded_value_never_ends_inside_a_uuid(offset):
    text = "k" * (VALUE_CHARS - offset) + UUID + ", " + "v" * 300
    out = bounded_text(text)
    assert UUID in out and out.endswith(f"…({len(text)} chars)")
    assert len(out) <= VALUE_CHARS + 35 + len(f"…({len(text)} chars)")


def test_a_bounded_value_without_a_uuid_is_cut_where_it_was():
    text = "a" * (VALUE_CHARS + 50)
    assert bounded_text(text) == "a" * VALUE_CHARS + f"…({len(text)} chars)"
    assert bounded_text(UUID) == UUID


def test_a_short_unspaced_value_stays_on_one_line_and_is_escaped():
    assert as_text(UUID) == f'<span class="text-nowrap">{UUID}</span>'
    assert as_text("<b>") == '<span class="text-nowrap">&lt;b&gt;</span>'
    assert as_text("two words") == "two words"
    assert as_text("x" * 65) == "x" * 65


def _evr(success: bool, kwargs: dict, raised: bool = False) -> ExpectationValidationResult:
    config = ExpectationConfiguration(type="expect_column_values_to_not_be_null", kwargs=kwargs)
    info = {"raised_exception": raised, "exception_message": "boom" if raised else None, "exception_traceback": None}
    return ExpectationValidationResult(success=success, expectation_config=config, exception_info=info)


def test_verdicts_failed_first_and_the_tables_a_page_names():
    ok, bad, broken = _evr(True, {"column": "a"}), _evr(False, {"column": "b"}), _evr(False, {"column": "c"}, True)
    assert [verdict(r) for r in (ok, bad, broken)] == ["passed", "failed", "error"]
    assert failed_first([ok, bad, ok, broken]) == [bad, broken, ok, ok]
    cross = _evr(False, {"column": "channel_id", "table": "videos"})
    vr = ExpectationSuiteValidationResult(
        success=False,
        results=[cross, ok],
        suite_name="cross_table",
        meta={"batch_spec": {"data_asset_name": "users", "table_name": "users", "schema_name": None}},
    )
    assert rule_tables(vr) == ["videos", "users"]


def test_a_missing_asset_install_is_one_line_naming_the_fix(tmp_path):
    with pytest.raises(YtdqError, match=r"jquery@3\.7\.1 is missing from .*: run make install"):
        docs_assets.installed_versions(tmp_path)


def test_assets_are_copied_once_with_their_licences(tmp_path):
    assert docs_assets.ship_assets(tmp_path) is True
    vendor = tmp_path / "static" / "vendor"
    assert (vendor / "jquery" / "dist" / "jquery.min.js").is_file()
    assert (vendor / "jquery" / "LICENSE.txt").is_file() and (vendor / "bootstrap" / "LICENSE").is_file()
    assert json.loads((vendor / "ASSETS.json").read_text()) == docs_assets.pinned_versions()
    assert docs_assets.ship_assets(tmp_path) is False  # the same set: nothing copied again


def test_gx_static_files_are_copied_once_and_a_missing_one_again(tmp_path):
    from great_expectations.data_context.store import HtmlSiteStore

    store = HtmlSiteStore(store_backend={"class_name": "TupleFilesystemStoreBackend", "base_directory": str(tmp_path)})
    assert docs_assets.copy_gx_static(tmp_path, store) is True
    font = tmp_path / "static" / "fonts" / "HKGrotesk" / "HKGrotesk-Bold.otf"
    assert font.is_file() and (tmp_path / "static" / "images" / "favicon.ico").is_file()
    assert docs_assets.copy_gx_static(tmp_path, store) is False  # the same set: nothing copied again
    font.unlink()
    assert docs_assets.copy_gx_static(tmp_path, store) is True and font.is_file()


def test_the_terminal_sample_column_never_shows_half_a_uuid():
    """The failed-rules table joins five sampled ids and bounds them to 120 characters."""
    import re
    import uuid

    ids = [str(uuid.UUID(int=i * 0x1234567890ABCDEF1234567890ABCDEF)) for i in range(1, 6)]
    out = bounded_text(", ".join(json.dumps(i) for i in ids), 120)
    shown = re.findall(r"[0-9a-f-]{8,}", out.split("…")[0])
    assert shown == ids[: len(shown)] and len(shown) == 3
