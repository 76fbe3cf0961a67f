"""What results are keyed by (issue 8): every rule has its own ``id`` and ``meta.rule_id``.

``ytdq suite lint`` warns about rules without ``id`` and ``--fix`` writes the id runs already
give them, keeping the file's layout; a missing or repeated ``rule_id`` or a repeated ``id`` is a
lint error naming every place, and ``checkpoint run`` refuses it before any rule runs (exit 2).
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.helpers import scalar
from ytempire_dq.db.connect import connect
from ytempire_dq.errors import ExitCode
from ytempire_dq.gx.context import open_context
from ytempire_dq.rules import lint
from ytempire_dq.rules.suite_files import SuiteFileError
from ytempire_dq.run.checkpoint import run_checkpoint

BIN = Path(sys.executable).parent
ID_LINE = re.compile(r'^ {6}"id": "[0-9a-f-]{36}",\n', re.M)


def _doc(gx_dir: Path, suite: str) -> tuple[Path, dict]:
    path = gx_dir.parent / "expectations" / f"{suite}.json"
    return path, json.loads(path.read_text())


def _strip_ids(path: Path, positions: list[int]) -> str:
    """Delete the ``"id"`` line of the rules at ``positions`` from the text (layout untouched)."""
    text = path.read_text()
    lines = list(ID_LINE.finditer(text))
    assert len(lines) == len(json.loads(text)["expectations"])  # one id line per rule
    for m in reversed([lines[i] for i in positions]):
        text = text[: m.start()] + text[m.end() :]
    path.write_text(text)
    return text


def _loaded_ids(gx_dir: Path, suite: str) -> list[str]:
    ctx = open_context(gx_dir, database_url="postgresql+psycopg2://u@127.0.0.1:1/none")
    return [e.id for e in ctx.suites.get(suite).expectations]


@pytest.mark.parametrize("suite", ["videos", "analytics"])  # indent 2 as written; analytics: keys sorted too
def test_fix_writes_the_ids_runs_use_and_keeps_the_layout(project_copy, suite):
    path, _ = _doc(project_copy, suite)
    original = path.read_text()
    stripped = _strip_ids(path, [0, 3, 4])
    given = _loaded_ids(project_copy, suite)  # what a run uses for the id-less rules
    problems = lint.lint(project_copy, offline=True)
    warned = [p for p in problems if "has no id" in p.message and p.file.endswith(f"{suite}.json")]
    assert [p.level for p in warned] == ["warning"] * 3
    assert [re.search(r"#(\d+) ", p.message).group(1) for p in warned] == ["1", "4", "5"]
    assert all(given[i] in p.message for i, p in zip([0, 3, 4], warned))

    assert lint.fix_ids(project_copy) == [{"file": str(path), "ids": 3}]
    fixed = path.read_text()
    # the same text as before, with the given ids where the old ones were
    old_ids = [json.loads(original)["expectations"][i]["id"] for i in (0, 3, 4)]
    expected = original
    for old, new in zip(old_ids, (given[0], given[3], given[4])):
        expected = expected.replace(old, new)
    assert fixed == expected and fixed != stripped
    assert _loaded_ids(project_copy, suite) == given  # results of earlier runs still match
    assert lint.fix_ids(project_copy) == []  # nothing left to write


def test_fix_keeps_an_other_json_layout_and_a_one_line_file(project_copy):
    path, doc = _doc(project_copy, "users")
    for e in doc["expectations"]:
        e.pop("id")
    path.write_text(json.dumps(doc, indent=4, ensure_ascii=False))  # no trailing newline
    given = _loaded_ids(project_copy, "users")
    wf_path, wf = _doc(project_copy, "workflows")
    wf["expectations"][0].pop("id")
    wf_path.write_text(json.dumps(wf, separators=(",", ":")))  # one line
    wf_given = _loaded_ids(project_copy, "workflows")[0]
    changed = {Path(c["file"]).name: c for c in lint.fix_ids(project_copy)}
    assert changed["users.json"]["ids"] == len(given)
    text = path.read_text()
    assert text == json.dumps(
        {
            **doc,
            "expectations": [
                {**{k: v for k, v in e.items() if k < "id"}, "id": i, **{k: v for k, v in e.items() if k > "id"}}
                for e, i in zip(doc["expectations"], given)
            ],
        },
        indent=4,
        ensure_ascii=False,
    )
    first = wf["expectations"][0]
    wf["expectations"][0] = {
        **{k: v for k, v in first.items() if k < "id"},
        "id": wf_given,
        **{k: v for k, v in first.items() if k > "id"},
    }
    assert wf_path.read_text() == json.dumps(wf, separators=(",", ":"))  # still one line, the id added


HAND_WRITTEN = """{ "name":"videos", "id": "SUITE_ID",
  "expectations" : [
    {"type": "expect_column_values_to_not_be_null", "kwargs": {"column": "title"},
     "meta": {"rule_id": "videos.title_set"}},
    {   "id" : "0b6f4b8e-6a55-4f43-9d1f-5a8a40d3a0a1",
        "type": "expect_column_values_to_not_be_null",
        "kwargs": {"column": "status"},    "meta": {"rule_id": "videos.status_set"}
    },
    {
       "type":   "expect_column_values_to_be_between",
       "description": "views are not negative",
       "kwargs": {"column": "view_count", "min_value": 0},
       "meta": {"rule_id": "videos.views_not_negative", "notes": "caf\\u00e9 – keeps its escapes"}
    },
    {
\t"description": "a tab-indented rule, keys sorted",
\t"kwargs": {"column": "channel_id"},
\t"meta": {"rule_id": "videos.channel_set"},
\t"type": "expect_column_values_to_not_be_null"
    }
  ],
  "meta": {"great_expectations_version": "1.24.1"}
}
"""


def test_fix_on_a_hand_formatted_file_inserts_the_id_lines_and_nothing_else(project_copy):
    """The byte diff of ``--fix`` is the inserted ids only, whatever the file's layout."""
    import difflib

    path, doc = _doc(project_copy, "videos")
    hand_written = HAND_WRITTEN.replace("SUITE_ID", doc["id"])
    path.write_text(hand_written)
    given = _loaded_ids(project_copy, "videos")
    assert lint.fix_ids(project_copy) == [{"file": str(path), "ids": 3}]
    fixed = path.read_text()
    assert [e["id"] for e in json.loads(fixed)["expectations"]] == given
    diff = [d for d in difflib.ndiff(hand_written.splitlines(), fixed.splitlines()) if d[:1] in "+-"]
    added = [d[2:] for d in diff if d.startswith("+ ")]
    removed = [d[2:] for d in diff if d.startswith("- ")]
    assert removed == [hand_written.splitlines()[2]]  # only the one-line rule's line changed ...
    assert added[0] == hand_written.splitlines()[2].replace("{", '{"id": "' + given[0] + '", ', 1)  # ... by its id
    assert added[1:] == [f'       "id":   "{given[2]}",', f'\t"id": "{given[3]}",']
    assert len(fixed) - len(hand_written) == sum(len(a) + 1 for a in added[1:]) + len(f'"id": "{given[0]}", ')
    assert lint.fix_ids(project_copy) == []


def _duplicate(gx_dir: Path) -> None:
    """videos #3 takes videos #2's rule_id; channels #1 takes videos #1's rule_id and id; users #2 loses its rule_id."""
    vpath, videos = _doc(gx_dir, "videos")
    videos["expectations"][2]["meta"]["rule_id"] = videos["expectations"][1]["meta"]["rule_id"]
    vpath.write_text(json.dumps(videos, indent=2))
    cpath, channels = _doc(gx_dir, "channels")
    channels["expectations"][0]["meta"]["rule_id"] = videos["expectations"][0]["meta"]["rule_id"]
    channels["expectations"][0]["id"] = videos["expectations"][0]["id"]
    cpath.write_text(json.dumps(channels, indent=2))
    upath, users = _doc(gx_dir, "users")
    users["expectations"][1]["meta"].pop("rule_id")
    upath.write_text(json.dumps(users, indent=2))


def test_lint_names_every_place_of_a_repeated_or_missing_key(module_env, project_copy):
    _duplicate(project_copy)
    f = lambda name: str(project_copy.parent / "expectations" / name)  # noqa: E731
    video_id = _doc(project_copy, "videos")[1]["expectations"][0]["id"]
    users_type = _doc(project_copy, "users")[1]["expectations"][1]["type"]
    errors = [str(p) for p in lint.lint(project_copy) if p.level == "error"]
    assert sorted(errors) == sorted(
        [
            f"{f('videos.json')} [videos.id_type]: error: rule_id 'videos.id_type' is used 2 times: "
            f"{f('videos.json')} #2, {f('videos.json')} #3 (rule_ids must be unique)",
            f"{f('channels.json')} [videos.columns]: error: rule_id 'videos.columns' is used 2 times: "
            f"{f('channels.json')} #1, {f('videos.json')} #1 (rule_ids must be unique)",
            f"{f('channels.json')}: error: expectation id {video_id!r} is used 2 times: {f('channels.json')} #1, "
            f'{f("videos.json")} #1 (delete the copies\' "id"; `ytdq suite lint --fix` writes new ones)',
            f"{f('users.json')}: error: expectation #2 ({users_type}): no meta.rule_id "
            "(every rule needs one: history, quarantine and alerts key on it)",
        ]
    ), errors


def test_checkpoint_run_refuses_repeated_keys_before_any_rule_runs(module_env, project_copy):
    _duplicate(project_copy)
    with pytest.raises(SuiteFileError) as caught:
        run_checkpoint("nightly", config_dir=project_copy, database_url=module_env)
    message = str(caught.value)
    assert message.startswith("checkpoint 'nightly' cannot run: ")
    f = lambda name: str(project_copy.parent / "expectations" / name)  # noqa: E731
    assert f"{f('videos.json')} #2, {f('videos.json')} #3" in message
    assert f"{f('channels.json')} #1" in message and f"{f('videos.json')} #1" in message
    assert f"{f('users.json')}: expectation #2" in message
    assert "\n" not in message
    results = project_copy / "uncommitted" / "validations"
    assert not results.exists() or not any(p.is_file() for p in results.rglob("*"))  # nothing ran, nothing stored
    conn = connect(module_env, autocommit=True)
    try:
        assert scalar(conn, "SELECT count(*) FROM dq.runs WHERE checkpoint = 'nightly'") == 0
    finally:
        conn.close()


def test_checkpoint_run_refuses_only_within_its_own_suites(module_env, project_copy):
    """A rule_id of the videos suite repeated in the cache suite: critical runs neither, so the clash
    does not stop it; nightly runs both and refuses."""
    from ytempire_dq.run.checkpoint import _check_files

    cpath, cache = _doc(project_copy, "cache")
    cache["expectations"][0]["meta"]["rule_id"] = "videos.id_type"
    cpath.write_text(json.dumps(cache, indent=2))
    critical = json.loads((project_copy.parent / "checkpoints" / "critical.json").read_text())
    assert "cache" not in {v["name"] for v in critical["validation_definitions"]}
    _check_files("critical", project_copy)  # no error: the clash is outside its suites
    with pytest.raises(SuiteFileError, match="rule_id 'videos.id_type' is used 2 times") as caught:
        _check_files("nightly", project_copy)
    assert "cache.json #1" in str(caught.value) and "videos.json #2" in str(caught.value)


def test_cli_exits_2_with_one_line(module_env, project_copy):
    _duplicate(project_copy)
    ran = {}
    for args in (["checkpoint", "run", "nightly"], ["suite", "lint"]):
        proc = ran[args[0]] = subprocess.run(
            [str(BIN / "ytdq"), *args, "--config", str(project_copy)], capture_output=True, text=True, timeout=300
        )
        assert proc.returncode == ExitCode.RUN_FAILED, proc.stdout + proc.stderr
        assert "Traceback" not in proc.stderr
    assert ran["suite"].stdout.count("is used 2 times") == 3
    run = ran["checkpoint"]
    assert run.stderr.strip().count("\n") == 0 and run.stderr.startswith("error: checkpoint 'nightly' cannot run")
