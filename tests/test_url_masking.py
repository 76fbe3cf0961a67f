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
from ytempire_dq.server_processes import free_port

BIN = Path(sys.executable).parent
#: Upper-case letters only outside the specials: no run of them occurs in the URLs' other parts
#: or in libpq's messages, so finding one in an output means the password leaked.
LETTERS = "QXZJKWV"
SPECIALS = "@:/?#% "
passwords = st.text(alphabet=LETTERS + SPECIALS, min_size=1, max_size=24).map(lambda s: "QX" + s + "ZJ")


def url_shapes(password: str, host: str = "db.example.invalid", port: int = 5432) -> dict[str, str]:
    """The same credentials written well (encoded), raw, with one slash, and raw with one slash."""
    return {
        "encoded": f"postgresql+psycopg2://analyst:{quote(password, safe='')}@{host}:{port}/ytempire",
        "raw": f"postgresql+psycopg2://analyst:{password}@{host}:{port}/ytempire",
        "one_slash": f"postgresql+psycopg2:/analyst:{password}@{host}:{port}/ytempire",
        "one_slash_encoded": f"postgresql:/analyst:{quote(password, safe='')}@{host}/ytempire",
    }


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


# ---------------------------------------------------------------------------------------------
# properties


@settings(max_examples=400, deadline=None)
@given(
    password=passwords,
    shape=st.sampled_from(["encoded", "raw", "one_slash", "one_slash_encoded"]),
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
    shape=st.sampled_from(["encoded", "raw", "one_slash", "one_slash_encoded"]),
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
    shape=st.sampled_from(["encoded", "raw", "one_slash", "one_slash_encoded"]),
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
@pytest.mark.parametrize("shape", ["encoded", "raw", "one_slash", "one_slash_encoded"])
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
