"""``ytdq suite suggest``: a draft suite profiled from the real seeded database passes on that clean
data through GX and fails on the seeder's value-set, range, not-null, format and duplicate defects
with exactly the injected counts; it never overwrites, and hostile table names get one line."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.helpers import copy_project
from ytempire_dq.db.connect import connect
from ytempire_dq.errors import ExitCode, YtdqError
from ytempire_dq.fixtures import factories
from ytempire_dq.fixtures import seed as seeder
from ytempire_dq.fixtures.defects import inject
from ytempire_dq.rules import suggest
from ytempire_dq.rules.lint import lint
from ytempire_dq.run.checkpoint import run_checkpoint

YTDQ = Path(sys.executable).with_name("ytdq")
TABLES = ("videos", "channels")
#: defect kind -> (count, the suggested rule that must catch it, rows per defect)
DEFECTS = {
    "unknown_video_status": (3, "videos.suggested_status_in_set", 1),
    "cost_out_of_range": (4, "videos.suggested_generation_cost_range", 1),
    "null_video_title": (2, "videos.suggested_title_not_null", 1),
    "bad_youtube_video_id": (5, "videos.suggested_youtube_video_id_format", 1),
    "duplicate_youtube_video_id": (2, "videos.suggested_youtube_video_id_unique", 2),
    "negative_video_revenue": (4, "videos.suggested_revenue_range", 1),
    "unknown_channel_status": (3, "channels.suggested_status_in_set", 1),
    "unknown_monetization_status": (2, "channels.suggested_monetization_status_in_set", 1),
    "bad_youtube_channel_id": (3, "channels.suggested_youtube_channel_id_format", 1),
}


def without_drafts(gx_dir: Path) -> Path:
    """The project copy at ``gx_dir`` without the drafts an analyst suggested into the project
    (suite, validation definition, checkpoint entries): these tests suggest their own."""
    root = gx_dir.parent
    drafts = {p.stem for p in (root / "expectations").glob("*_suggested.json")}
    for name in drafts:
        (root / "expectations" / f"{name}.json").unlink()
        (root / "validation_definitions" / f"{name}.json").unlink(missing_ok=True)
    for path in (root / "checkpoints").glob("*.json"):
        cp = json.loads(path.read_text())
        kept = [vd for vd in cp["validation_definitions"] if vd["name"] not in drafts]
        if kept != cp["validation_definitions"]:
            path.write_text(json.dumps({**cp, "validation_definitions": kept}, indent=2))
    return gx_dir


@pytest.fixture(scope="module")
def project(db_url, tmp_path_factory):
    """Seeded clean data; a project copy holding the suggested suites of videos and channels, with
    their validation definitions in a checkpoint ``suggested`` of their own."""
    seeder.seed(db_url, users=40, seed=11)  # enough monetized channels for videos.revenue to vary
    gx_dir = without_drafts(copy_project(tmp_path_factory.mktemp("suggest")))
    made = {t: suggest.write_suggestion(t, config_dir=gx_dir, database_url=db_url) for t in TABLES}
    vds = [json.loads((gx_dir.parent / made[t]["validation_definition"]).read_text()) for t in TABLES]
    cp = json.loads((gx_dir.parent / "checkpoints" / "critical.json").read_text())
    cp.pop("id")
    cp.update(name="suggested", actions=[], validation_definitions=[{"id": v["id"], "name": v["name"]} for v in vds])
    (gx_dir.parent / "checkpoints" / "suggested.json").write_text(json.dumps(cp, indent=2))
    return gx_dir, made


def _suite(gx_dir: Path, table: str) -> dict:
    return json.loads((gx_dir.parent / "expectations" / f"{table}_suggested.json").read_text())


def test_every_suggested_rule_has_id_rule_id_description_and_evidence(project):
    gx_dir, made = project
    for table in TABLES:
        doc = _suite(gx_dir, table)
        assert made[table]["file"] == str(gx_dir.parent / "expectations" / f"{table}_suggested.json")
        assert doc["name"] == f"{table}_suggested" and len(doc["expectations"]) == made[table]["rules"]
        rule_ids = [e["meta"]["rule_id"] for e in doc["expectations"]]
        assert len(set(rule_ids)) == len(rule_ids) and all(r.startswith(f"{table}.suggested_") for r in rule_ids)
        for exp in doc["expectations"]:
            assert exp["id"] and exp["description"].endswith("(draft)") and exp["meta"]["suggested_from"]
    rules = {e["meta"]["rule_id"]: e for e in _suite(gx_dir, "videos")["expectations"]}
    status = rules["videos.suggested_status_in_set"]
    assert sum(status["meta"]["suggested_from"]["values"].values()) == status["meta"]["suggested_from"]["non_null"]
    assert set(status["kwargs"]["value_set"]) <= set(factories.VIDEO_STATUSES)
    cost = rules["videos.suggested_generation_cost_range"]
    seen = cost["meta"]["suggested_from"]
    assert 0.10 <= seen["min"] and seen["max"] <= 5.00  # the seeder's [0.10, 5.00]
    assert cost["kwargs"]["min_value"] <= seen["min"] and cost["kwargs"]["max_value"] >= seen["max"]
    assert rules["videos.suggested_youtube_video_id_format"]["kwargs"]["regex"].endswith("{11}$")
    assert rules["videos.suggested_id_unique"]["meta"]["enforced_by"] == "videos_pkey"
    assert rules["videos.suggested_title_not_null"]["meta"]["enforced_by"] == "videos.title NOT NULL"
    assert "videos.suggested_description_not_null" not in rules  # the seeder leaves 30% without one
    assert "videos.suggested_created_at_range" not in rules  # no ranges on timestamps
    channel_rules = {e["meta"]["rule_id"]: e for e in _suite(gx_dir, "channels")["expectations"]}
    assert rules["videos.suggested_revenue_range"]["kwargs"]["min_value"] == 0
    assert channel_rules["channels.suggested_youtube_channel_id_format"]["kwargs"]["regex"].startswith("^UC[")


def test_suggested_suites_pass_lint(project, db_url):
    gx_dir, _ = project
    errors = [p for p in lint(gx_dir, database_url=db_url) if p.level == "error"]
    assert errors == []


def test_suggested_suites_pass_on_clean_data_and_catch_the_defects_exactly(project, db_url, monkeypatch):
    gx_dir, _ = project
    monkeypatch.setenv("YTDQ_FAST", "0")  # GX alone runs the draft
    clean = run_checkpoint("suggested", config_dir=gx_dir, database_url=db_url)
    failed = [(r.rule_id, r.unexpected_count, r.error) for r in clean.rules() if not r.success]
    assert failed == [] and clean.exit_code == ExitCode.OK
    assert len(clean.rules()) == sum(len(_suite(gx_dir, t)["expectations"]) for t in TABLES)

    inject(db_url, {kind: count for kind, (count, _, _) in DEFECTS.items()}, seed=11)
    for fast in ("0", "1"):
        monkeypatch.setenv("YTDQ_FAST", fast)
        report = run_checkpoint("suggested", config_dir=gx_dir, database_url=db_url)
        assert report.exit_code == ExitCode.DATA_FAILED
        got = {r.rule_id: (r.success, r.unexpected_count) for r in report.rules()}
        for kind, (count, rule_id, per_defect) in DEFECTS.items():
            assert got[rule_id] == (False, count * per_defect), (kind, fast)


def test_never_overwrites_a_suite_or_a_file(project, db_url, tmp_path):
    gx_dir, _ = project
    before = (gx_dir.parent / "expectations" / "videos_suggested.json").read_text()
    with pytest.raises(YtdqError, match=r"videos_suggested\.json exists already: suggest never overwrites"):
        suggest.write_suggestion("videos", config_dir=gx_dir, database_url=db_url)
    assert (gx_dir.parent / "expectations" / "videos_suggested.json").read_text() == before
    other = tmp_path / "draft.json"
    other.write_text("mine")
    with pytest.raises(YtdqError, match=r"draft\.json exists already"):
        suggest.write_suggestion("videos", other, config_dir=gx_dir, database_url=db_url)
    assert other.read_text() == "mine"
    # the same command line: exit 2, one line naming the file
    done = subprocess.run(
        [YTDQ, "suite", "suggest", "videos", "--out", str(other), "--config", str(gx_dir)],
        capture_output=True,
        text=True,
        env={**_env(db_url)},
    )
    assert done.returncode == 2 and other.read_text() == "mine"
    assert done.stderr.count("\n") == 1 and str(other) in done.stderr and "Traceback" not in done.stderr


def _env(db_url: str) -> dict:
    import os

    return {**os.environ, "DATABASE_URL": db_url}


@pytest.mark.parametrize("name", ["no_such_table", 'videos"; DROP TABLE videos; --', "vid'eos", "videos\nchannels", ""])
def test_hostile_or_unknown_table_names_are_one_line_errors(project, db_url, db, tmp_path, name):
    gx_dir, _ = project
    with pytest.raises(YtdqError) as caught:
        suggest.write_suggestion(name, tmp_path / "x.json", config_dir=gx_dir, database_url=db_url)
    message = str(caught.value)
    assert "\n" not in message and f"no table {name!r}" in message and "videos" in message
    assert not (tmp_path / "x.json").exists()
    assert connect(db_url).cursor() and _count(db, "videos") > 0  # nothing was dropped


def _count(db, table: str) -> int:
    with db.cursor() as cur:
        cur.execute(f"SELECT count(*) FROM {table}")
        return cur.fetchone()[0]


VALUES = ['<script>alert("x")</script>', "O'Brien", 'say "hi"', "back\\slash"]


@pytest.fixture(scope="module")
def odd_table(db_url):
    """A table and columns whose names need quoting; values with HTML, quotes and backslashes."""
    conn = connect(db_url, autocommit=True)
    with conn.cursor() as cur:
        cur.execute("CREATE TYPE mood AS ENUM ('sad', 'ok', 'happy')")
        cur.execute(
            'CREATE TABLE "Odd ""Table""" ("Kind ""x""" text NOT NULL, "select" integer, "user_id" text, '
            "m mood, ratio numeric, long_text text)"
        )
        for i in range(40):
            cur.execute(
                'INSERT INTO "Odd ""Table""" VALUES (%s, %s, %s, %s, %s, %s)',
                (
                    VALUES[i % 4],
                    i if i % 5 else None,
                    f"u-{i:04d}",
                    ("sad", "ok")[i % 2],
                    "NaN" if i == 7 else i / 10,
                    ("x" * 300, "y" * 300)[i % 2],
                ),
            )
        cur.execute('CREATE VIEW "Odd Table" AS SELECT * FROM "Odd ""Table"""')  # for GX: see below
    conn.close()
    return 'Odd "Table"'


def test_quoted_identifiers_and_markup_values_round_trip(odd_table, db_url):
    """A table and columns whose names need quoting, values carrying HTML and quotes: profiled with
    quoted identifiers, the value set is plain JSON holding them as written; an enum column is a
    value set too; NaN gives no range; text longer than 200 characters gives no set."""
    made = suggest.write_suggestion('Odd "Table"', "-", database_url=db_url)
    doc = json.loads(made["text"])
    assert made["file"] is None and made["rows"] == 40 and doc["name"] == "odd_table_suggested"
    rules = {e["meta"]["rule_id"]: e for e in doc["expectations"]}
    assert rules["odd_table.suggested_kind_x_in_set"]["kwargs"]["value_set"] == sorted(VALUES)
    assert rules["odd_table.suggested_kind_x_in_set"]["meta"]["suggested_from"]["values"] == dict.fromkeys(
        sorted(VALUES), 10
    )
    assert rules["odd_table.suggested_select_range"]["kwargs"] == {"column": "select", "min_value": 0, "max_value": 41}
    assert "odd_table.suggested_select_not_null" not in rules
    assert rules["odd_table.suggested_user_id_format"]["kwargs"]["regex"] == r"^u\-00[0-9]{2}$"
    assert rules["odd_table.suggested_m_in_set"]["kwargs"]["value_set"] == ["ok", "sad"]
    assert rules["odd_table.suggested_m_type"]["kwargs"]["type_list"] == ["mood"]
    assert "odd_table.suggested_ratio_range" not in rules
    assert not [
        r for r in rules if r.startswith("odd_table.suggested_long_text_") and not r.endswith(("_type", "_null"))
    ]


def test_unreachable_database_is_one_line_with_the_password_masked(tmp_path):
    url = "postgresql+psycopg2://ytdq:s3cr3t-pw@127.0.0.1:1/ytempire"
    with pytest.raises(YtdqError) as caught:
        suggest.write_suggestion("videos", tmp_path / "x.json", database_url=url)
    message = str(caught.value)
    assert "\n" not in message and "s3cr3t-pw" not in message and "127.0.0.1:1" in message
    assert not (tmp_path / "x.json").exists()


def test_empty_table_gets_types_and_unique_indexes_only(db_url, db):
    with db.cursor() as cur:
        cur.execute("CREATE TABLE empty_one (id integer PRIMARY KEY, label text, amount numeric(8, 2))")
        cur.execute("CREATE UNIQUE INDEX empty_one_label_partial ON empty_one (label) WHERE amount > 0")
    doc = json.loads(suggest.write_suggestion("empty_one", "-", database_url=db_url)["text"])
    assert doc["meta"]["suggested"]["rows"] == 0
    assert sorted(e["type"] for e in doc["expectations"]) == sorted(
        ["expect_table_columns_to_match_set", "expect_column_values_to_be_unique"]
        + ["expect_column_values_to_be_in_type_list"] * 3
    )  # the partial index proves nothing about the whole column


@pytest.mark.parametrize(
    ("lo", "hi", "n", "scale", "want"),
    [
        (0.1, 5.0, 50, 4, (0.0, 5.1)),  # mean gap 0.1; never below 0
        (10, 20, 2, 0, (0, 30)),  # two values: the whole spread again each side
        (-5, -1, 5, 0, (-6, 0)),
        (0.12345, 0.2, 2, 2, (0.04, 0.28)),  # outwards to 2 decimals
    ],
)
def test_range_margin(lo, hi, n, scale, want):
    r = suggest.range_with_margin(lo, hi, n, scale)
    assert (r["min_value"], r["max_value"]) == want


def test_odd_table_draft_passes_through_gx(odd_table, db_url):
    """The quoted-names table's draft, run by GX itself on the data it was profiled from (through a
    view: GX 1.24 re-quotes a table name holding a double quote wrongly, doubling its doubled quote again)."""
    import great_expectations as gx

    doc = json.loads(suggest.write_suggestion('Odd "Table"', "-", database_url=db_url)["text"])
    ctx = gx.get_context(mode="ephemeral")
    asset = ctx.data_sources.add_postgres("pg", connection_string=db_url).add_table_asset(
        "odd", table_name='"Odd Table"'
    )
    suite = ctx.suites.add(gx.ExpectationSuite(**{k: v for k, v in doc.items() if k != "id"}))
    result = asset.add_batch_definition_whole_table("all").get_batch().validate(suite)
    failed = [
        (r.expectation_config.meta["rule_id"], r.result, r.exception_info) for r in result.results if not r.success
    ]
    assert failed == []


def test_cli_writes_the_draft_with_its_validation_definition_and_refuses_a_second(project, db_url, tmp_path):
    gx_dir = copy_project(tmp_path)
    cmd = [str(YTDQ), "suite", "suggest", "users", "--config", str(gx_dir)]
    first = subprocess.run([*cmd, "--checkpoint", "critical"], capture_output=True, text=True, env=_env(db_url))
    assert first.returncode == 0, first.stderr
    suite_file = gx_dir.parent / "expectations" / "users_suggested.json"
    assert (
        f"draft suite users_suggested: {suite_file} (" in first.stdout and "run by checkpoint critical" in first.stdout
    )
    critical = json.loads((gx_dir.parent / "checkpoints" / "critical.json").read_text())
    assert "users_suggested" in [v["name"] for v in critical["validation_definitions"]]
    vd = json.loads((gx_dir.parent / "validation_definitions" / "users_suggested.json").read_text())
    assert vd["suite"]["id"] == json.loads(suite_file.read_text())["id"]
    again = subprocess.run(cmd, capture_output=True, text=True, env=_env(db_url))
    assert again.returncode == 2 and again.stdout == ""
    assert again.stderr.count("\n") == 1 and f"{suite_file} exists already" in again.stderr
    printed = subprocess.run([*cmd, "--out", "-"], capture_output=True, text=True, env=_env(db_url))
    assert printed.returncode == 0 and json.loads(printed.stdout)["name"] == "users_suggested"
    hostile = subprocess.run(
        [str(YTDQ), "suite", "suggest", 'users"; --', "--out", "-"], capture_output=True, text=True, env=_env(db_url)
    )
    assert hostile.returncode == 2 and hostile.stdout == "" and hostile.stderr.count("\n") == 1
    assert "no table 'users\"; --'" in hostile.stderr and "Traceback" not in hostile.stderr


def test_project_draft_of_a_table_that_is_no_data_asset_and_rule_id_clashes(odd_table, db_url, tmp_path):
    gx_dir = without_drafts(copy_project(tmp_path))
    store = gx_dir.parent / "expectations"
    made = suggest.write_suggestion(odd_table, config_dir=gx_dir, database_url=db_url)
    assert made["file"] == str(store / "odd_table_suggested.json") and made["validation_definition"] is None
    assert not (gx_dir.parent / "validation_definitions" / "odd_table_suggested.json").exists()
    with pytest.raises(YtdqError, match=r"another\.json: rule_id 'odd_table\.suggested_columns' is already used in "):
        suggest.write_suggestion(odd_table, store / "another.json", config_dir=gx_dir, database_url=db_url)
    with pytest.raises(YtdqError, match="--checkpoint needs a suite in the project"):
        suggest.write_suggestion(odd_table, "-", checkpoint="nightly", config_dir=gx_dir, database_url=db_url)
    assert sorted(p.name for p in store.glob("*suggested*.json")) == ["odd_table_suggested.json"]
    assert not (store / "another.json").exists()
    with pytest.raises(YtdqError, match="unknown checkpoint 'nope'"):  # checked before anything is written
        suggest.write_suggestion("users", checkpoint="nope", config_dir=gx_dir, database_url=db_url)
    assert not (store / "users_suggested.json").exists()
    assert not (gx_dir.parent / "validation_definitions" / "users_suggested.json").exists()


@pytest.mark.parametrize("table", ["users", "api_keys"])
def test_a_draft_holds_no_value_of_a_personal_column(project, db_url, tmp_path, table):
    """Drafts are read, committed and shared: no e-mail, username, key name or password/key hash
    of the database is in one (no value set, no min/max, no common prefix), the rules stay."""
    from ytempire_dq import pii

    personal = pii.columns_of(table)
    assert personal  # the declaration the draft obeys
    out = tmp_path / f"{table}.json"
    suggest.write_suggestion(table, out, database_url=db_url)
    text = out.read_text()
    conn = connect(db_url, autocommit=True)
    try:
        with conn.cursor() as cur:
            cur.execute(f"SELECT {', '.join(personal)} FROM {table}")
            values = {v for row in cur.fetchall() for v in row}
    finally:
        conn.close()
    assert len(values) > 10
    for value in values:  # a short key name as a whole JSON string, anything longer anywhere
        assert json.dumps(value) not in text and (len(value) < 8 or value not in text), (table, value)
    rules = json.loads(text)["expectations"]
    on_personal = [r for r in rules if r["kwargs"].get("column") in personal]
    assert {r["kwargs"]["column"] for r in on_personal} == set(personal)  # type, not-null rules kept
    assert not [
        r
        for r in on_personal
        if r["type"] in ("expect_column_values_to_be_in_set", "expect_column_values_to_be_between")
    ]
    for rule in on_personal:
        assert not {"min", "max", "values"} & set(rule["meta"]["suggested_from"]), rule
    if table == "api_keys":  # a personal column id-like by its name keeps its shape
        fmt = next(r for r in on_personal if r["type"] == "expect_column_values_to_match_regex")
        assert fmt["kwargs"] == {"column": "key_hash", "regex": "^[0-9a-f]{64}$"}
