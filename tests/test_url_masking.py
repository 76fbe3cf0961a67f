"""URL masking that cannot leak (issue 9, item 4).

Reproduces: ``postgresql+psycopg2:/user:PW@host/db`` (one slash) printed the whole password, and
an unencoded ``@`` in the password leaked its tail through libpq's "could not translate host
name" message. Property: for random passwords holding ``@ : / ? # %`` and spaces, in well-formed
and malformed URLs, no output of ``mask_url``, of ``mask_secrets`` over a message embedding the
URL, or of a real connection attempt (library and ``ytdq db status``) holds the password or a
piece of it.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import quote

import psycopg2
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from ytempire_dq.config import mask_secrets, mask_url, one_line, safe_prefix
from ytempire_dq.db.connect import connect, driver_reason
from ytempire_dq.errors import YtdqError
from ytempire_dq.ops.server_processes import free_port

BIN = Path(sys.executable).parent
#: Upper-case letters only outside the specials: no run of them occurs in the URLs' other parts
#: or in libpq's messages, so finding one in an output means the password leaked.
LETTERS = "QXZJKWV"
SPECIALS = "@:/?#% "
passwords = st.text(alphabet=LETTERS + SPECIALS, min_size=1, max_size=24).map(lambda s: "QX" + s + "ZJ")


def url_shapes(password: str, host: str = "db.example.invalid", port: int = 5432) -> dict[str, str]:
    """The same credentials written well (encoded), raw, with one slash, and raw with one slash;
    and the password in the query string (libpq's ``password`` parameter), encoded and raw."""
    return {
        "encoded": f"postgresql+psycopg2://analyst:{quote(password, safe='')}@{host}:{port}/ytempire",
        "raw": f"postgresql+psycopg2://analyst:{password}@{host}:{port}/ytempire",
        "one_slash": f"postgresql+psycopg2:/analyst:{password}@{host}:{port}/ytempire",
        "one_slash_encoded": f"postgresql:/analyst:{quote(password, safe='')}@{host}/ytempire",
        "query": f"postgresql+psycopg2://analyst@{host}:{port}/ytempire?sslmode=disable&password={quote(password, safe='')}",
        "query_raw": f"postgresql+psycopg2://analyst@{host}:{port}/ytempire?password={password}&application_name=dq",
    }


SHAPES = ["encoded", "raw", "one_slash", "one_slash_encoded", "query", "query_raw"]


def leaked(password: str, output: str) -> list[str]:
    """The pieces of ``password`` (whole, encoded, or any run of 3+ of its letters) in ``output``."""
    pieces = {password, quote(password, safe=""), quote(password)}
    pieces |= {run for run in re.findall(f"[{LETTERS}]{{3,}}", password)}
    return sorted(p for p in pieces if p in output)


# ---------------------------------------------------------------------------------------------
# the defects as the issue wrote them


def test_one_slash_url_no_longer_prints_the_password():
    url = "postgresql+psycopg2:/user:PW_s3cret@host/db"
    assert mask_url(url) == "postgresql+psycopg2:/***@host/db"
    assert "s3cret" not in mask_secrets(f"cannot connect to {url}: refused")
    with pytest.raises(YtdqError) as info:
        connect(url)
    assert "s3cret" not in str(info.value) and "postgresql+psycopg2:/***@host/db" in str(info.value)


def test_an_unencoded_at_in_the_password_leaks_nothing_through_libpq():
    url = "postgresql://user:p@ss_TAILSECRET@localhost/db"
    # the driver's own message (libpq given the raw URL) names the password's tail as a host
    with pytest.raises(psycopg2.OperationalError) as raw:
        psycopg2.connect(url, connect_timeout=3)
    message = str(raw.value).splitlines()[0]
    assert "could not translate host name" in message and "TAILSECRET" in message  # the defect
    reason = driver_reason(message, url, url)
    assert "TAILSECRET" not in reason and 'could not translate host name "***"' in reason
    # our connect refuses the ambiguous URL before libpq sees it, naming the fix
    with pytest.raises(YtdqError) as info:
        connect(url)
    assert "TAILSECRET" not in str(info.value) and "%40" in str(info.value)
    assert mask_url(url) == "postgresql://***@localhost/db"


def test_a_well_formed_url_keeps_everything_but_the_password():
    assert (
        mask_url("postgresql+psycopg2://ytdq:pw@127.0.0.1:5432/ytempire")
        == "postgresql+psycopg2://ytdq:***@127.0.0.1:5432/ytempire"
    )
    assert mask_url("redis://localhost:6379/0") == "redis://localhost:6379/0"
    assert (
        mask_secrets("at postgresql://ytdq:pw@127.0.0.1:5432/x: refused")
        == "at postgresql://ytdq:***@127.0.0.1:5432/x: refused"
    )
    assert mask_secrets("no URL here, only user@example.com") == "no URL here, only user@example.com"


@pytest.mark.parametrize(
    ("url", "masked"),
    [
        (
            "postgresql+psycopg2://u@host:5432/db?password=QXSECRETZJ",
            "postgresql+psycopg2://u@host:5432/db?password=***",
        ),
        (
            "postgresql+psycopg2://u:pw@host:5432/db?sslmode=require&password=QX%40SE%20CRETZJ&application_name=dq",
            "postgresql+psycopg2://u:***@host:5432/db?application_name=dq&password=***&sslmode=require",
        ),
        (
            "postgresql://u@host/db?sslpassword=QXKEYPASSZJ&passfile=/home/u/.pgpass",
            "postgresql://u@host/db?passfile=%2Fhome%2Fu%2F.pgpass&sslpassword=***",
        ),
        ("postgresql://u@host/db?pass%77ord=QXSECRETZJ", "postgresql://u@host/db?password=***"),
        ("redis://host:6379/0?password=QXSECRETZJ", "redis://host:6379/0?password=***"),
        ("rediss://host:6380/1?ssl_password=QXKEYZJ&db=1", "rediss://host:6380/1?db=1&ssl_password=***"),
        # not parsed (two '@'): masked as text, from the user part to the end
        ("postgresql://u@host/db?password=QX@SECRETZJ", "postgresql://***"),
        (
            "postgresql:/u@host/db?password=QXSECRETZJ&sslmode=disable",
            "postgresql:/***@host/db?password=***&sslmode=disable",
        ),
        # nothing secret: unchanged
        ("postgresql://u@host/db?sslmode=require&passfile=/p", "postgresql://u@host/db?sslmode=require&passfile=/p"),
    ],
)
def test_a_password_in_the_query_string_is_masked(url, masked):
    assert mask_url(url) == masked
    assert mask_url(masked) == masked


def test_query_string_secrets_in_free_text_are_masked():
    assert (
        mask_secrets("cannot connect to postgresql://u@h:5432/db?password=QXSECRETZJ: refused")
        == "cannot connect to postgresql://u@h:5432/db?password=***"
    ), "a raw value may hold spaces: masked to the line's end"
    assert (
        mask_secrets("at redis://h:6379/0?db=0&password=QX%20SECRETZJ&socket_timeout=5 (retrying)")
        == "at redis://h:6379/0?db=0&password=***&socket_timeout=5 (retrying)"
    ), "an '&' ends a value (the parsers split there)"
    assert (
        mask_secrets("a postgresql://u:pw@h/db?sslpassword=QXKEYZJ&password=QXPWZJ\nnext line ?password=QXTWOZJ")
        == "a postgresql://u:***@h/db?sslpassword=***&password=***\nnext line ?password=***"
    )
    # URLs masked already (a log line naming both servers): left alone, and the next URL still seen
    line = "monitoring PostgreSQL postgresql://u@h/db?password=*** and Redis redis://h/0?password=QXREDISZJ"
    assert (
        mask_secrets(line)
        == "monitoring PostgreSQL postgresql://u@h/db?password=*** and Redis redis://h/0?password=***"
    )
    assert mask_secrets(mask_secrets(line)) == mask_secrets(line)
    # a password given both ways, with a raw '@' in the query value: neither part survives
    text = mask_secrets("error: postgresql://u:QXONEZJ@h/db?password=QX@TWOZJ refused")
    assert "QXONEZJ" not in text and "TWO" not in text, text
    assert (
        mask_secrets("no secret: ?sslmode=require&passfile=/p user=x")
        == "no secret: ?sslmode=require&passfile=/p user=x"
    )


# ---------------------------------------------------------------------------------------------
# properties


@settings(max_examples=400, deadline=None)
@given(
    password=passwords,
    shape=st.sampled_from(SHAPES),
    before=st.sampled_from(["", "error: ", "could not connect to "]),
    after=st.sampled_from(["", ": refused", " (retrying in 5 s)", "\nnext line"]),
)
@example(password="QXp@ss wZJ", shape="raw", before="", after="")
@example(password="QX@/?#%:ZJ", shape="one_slash", before="", after="")
def test_the_password_never_appears_in_masked_text(password, shape, before, after):
    url = url_shapes(password)[shape]
    assert leaked(password, mask_url(url)) == [], mask_url(url)
    text = mask_secrets(f"{before}{url}{after}")
    assert leaked(password, text) == [], text


@settings(max_examples=600, deadline=None)
@given(
    password=passwords,
    shape=st.sampled_from(SHAPES),
    cut=st.integers(min_value=0, max_value=140),
)
def test_a_cut_message_never_ends_inside_a_password(password, shape, cut):
    """Bounded texts are cut before they are masked: the cut must not leave a password's head
    with no '@' after it (mask_secrets would not see a URL's user part)."""
    text = mask_secrets(safe_prefix(f"error: {url_shapes(password)[shape]}: refused", cut))
    assert leaked(password, text) == [], text


@settings(max_examples=300, deadline=None)
@given(
    password=passwords,
    shape=st.sampled_from(SHAPES),
    limit=st.integers(min_value=1, max_value=140),
)
def test_one_line_of_an_exception_is_one_bounded_line_without_the_password(password, shape, limit):
    """``one_line`` (every logged or printed exception): whitespace folded, cut, then masked."""
    text = one_line(RuntimeError(f"could not connect\n  to {url_shapes(password)[shape]}:\trefused"), limit)
    assert leaked(password, text) == [], text
    assert "\n" not in text and "\t" not in text and "  " not in text
    assert len(text) <= limit + len("***")


def test_one_line_names_an_exception_without_a_message():
    assert one_line(TimeoutError(), 300) == "TimeoutError"
    assert one_line(ValueError("a  b\n c"), 300) == "a b c"


def test_a_cut_inside_a_password_with_an_at_keeps_no_piece_of_it():
    url = "postgresql://analyst:QX@KKKKZJ@db.example.invalid/ytempire"
    for cut in range(len(url) + 1):
        assert "KKK" not in mask_secrets(safe_prefix(url, cut)), cut


@pytest.mark.parametrize("password", ["QXpw@KJZ", "QX@JJJ?ZJ", "QX p:w/JK?W#Z%ZJ", "QXZ@@KV  ZJ", "QX%4XZJ"])
@pytest.mark.parametrize("shape", SHAPES)
def test_a_real_connection_error_holds_no_password(password, shape):
    port = free_port()
    for url in (url_shapes(password, "127.0.0.1", port)[shape], url_shapes(password)[shape]):
        with pytest.raises(YtdqError) as info:
            connect(url, connect_timeout=3)
        assert leaked(password, str(info.value)) == [], str(info.value)


@pytest.mark.parametrize(
    ("password", "shape"),
    [
        ("QXpw@KJ ZJ", "raw"),
        ("QX/p?w#ZJ", "one_slash"),
        ("QX:p@w%ZJ", "encoded"),
        ("QXZ@@KVZJ", "one_slash_encoded"),
        ("QXp#w@K ZJ", "query_raw"),
        ("QX:p@w%ZJ", "query"),
    ],
)
def test_ytdq_db_status_prints_no_password(password, shape):
    for url in (url_shapes(password, "127.0.0.1", free_port())[shape], url_shapes(password)[shape]):
        started = time.monotonic()
        proc = subprocess.run(
            [str(BIN / "ytdq"), "db", "status"],
            capture_output=True,
            text=True,
            timeout=120,
            env={**os.environ, "DATABASE_URL": url, "COLUMNS": "200"},
        )
        assert proc.returncode == 2, (proc.stdout, proc.stderr)
        assert proc.stderr.startswith("error: ") and "Traceback" not in proc.stderr
        assert leaked(password, proc.stdout + proc.stderr) == [], proc.stderr
        assert time.monotonic() - started < 60


# ---------------------------------------------------------------------------------------------
# a password given only in the query string, through the commands

PG_SECRET = "QXPGQUERYZJ"
REDIS_SECRET = "QXREDISQUERYZJ"


def _ytdq(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run(
        [str(BIN / "ytdq"), *args],
        capture_output=True,
        text=True,
        timeout=600,
        env={**os.environ, "COLUMNS": "200", **env},
    )


def _every_file(folder: Path) -> str:
    """The text of every file under ``folder`` (reports, the log, stored results, Data Docs)."""
    return "".join(p.read_text(errors="replace") for p in sorted(folder.rglob("*")) if p.is_file())


def _query_urls(db_url: str | None = None) -> tuple[dict[str, str], int]:
    """DATABASE_URL (``db_url``, else a closed port) and REDIS_URL (a closed port) with their
    passwords in the query string only; and the Redis port."""
    db = db_url or f"postgresql+psycopg2://ytdq@127.0.0.1:{free_port()}/ytempire"
    redis_port = free_port()
    return {
        "DATABASE_URL": f"{db}?sslmode=disable&password={PG_SECRET}",
        "REDIS_URL": f"redis://127.0.0.1:{redis_port}/0?password={REDIS_SECRET}",
    }, redis_port


def test_a_query_string_password_never_reaches_a_run_that_cannot_connect(tmp_path):
    from ytempire_dq.locations import copy_project

    gx_dir = copy_project(tmp_path / "project")
    env, _ = _query_urls()
    proc = _ytdq(
        *("checkpoint", "run", "critical", "--config", str(gx_dir)),
        *("--json", str(tmp_path / "run.json"), "--junit", str(tmp_path / "run.xml")),
        env=env,
    )
    assert proc.returncode == 2, proc.stderr
    errors = [line for line in proc.stderr.splitlines() if line.startswith("error: ")]
    assert len(errors) == 1 and errors[0].startswith("error: cannot connect to PostgreSQL at "), proc.stderr
    assert "/ytempire?password=***&sslmode=disable: " in errors[0]
    assert "password=***" in (tmp_path / "run.json").read_text()
    assert "password=***" in (tmp_path / "run.xml").read_text()
    written = proc.stdout + proc.stderr + _every_file(tmp_path)
    assert PG_SECRET not in written and REDIS_SECRET not in written


def test_a_query_string_password_never_reaches_a_run_or_its_log(db_url, tmp_path):
    """The database answers (its password in the query string; the test server does not ask for
    one), Redis does not: the run passes, the Redis action's warning names the masked URL."""
    from ytempire_dq.locations import copy_project

    gx_dir = copy_project(tmp_path / "project")
    env, redis_port = _query_urls(db_url)
    proc = _ytdq(
        *("checkpoint", "run", "critical", "--config", str(gx_dir)),
        *("--json", str(tmp_path / "run.json"), "--junit", str(tmp_path / "run.xml")),
        env=env,
    )
    assert proc.returncode == 0, proc.stderr
    log = (gx_dir / "uncommitted" / "logs" / "ytdq.log").read_text()
    assert f"results not published to Redis at redis://127.0.0.1:{redis_port}/0?password=***: " in log
    written = proc.stdout + proc.stderr + _every_file(tmp_path)
    assert PG_SECRET not in written and REDIS_SECRET not in written


def test_monitor_once_prints_no_query_string_password(db_url):
    env, redis_port = _query_urls(db_url)
    proc = _ytdq("monitor", "--once", env=env)
    assert proc.returncode == 2, (proc.stdout, proc.stderr)  # Redis cannot be read
    output = proc.stdout + proc.stderr
    assert f"redis://127.0.0.1:{redis_port}/0?password=***" in output
    assert "?password=***&sslmode=disable" in output, "the start line names the database, masked"
    assert PG_SECRET not in output and REDIS_SECRET not in output
