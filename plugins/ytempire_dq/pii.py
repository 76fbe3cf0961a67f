"""Personal data: which columns hold it (declared once, here) and how their values are masked.

A failed rule's result carries sample values (GX's ``partial_unexpected_list``, a SQL rule's
whole rows). Values of the columns in :data:`PII_COLUMNS` never leave the database in clear:
each becomes ``pii:`` + the first 12 hex digits of HMAC-SHA256(salt, value). The same value gives
the same mask in every run and output (an engineer can tell "the same bad e-mail as yesterday"
and find the row by its key in ``dq.quarantine``), but the mask cannot be reversed by hashing
guesses without the salt.

**Where masking happens (one hook).** Every validation result, on the fast path and with GX
alone, is handed to the validation-results store (``ValidationDefinition.run`` and
``fast.run_definition`` both call ``store_validation_results``) *before* it is returned to the
checkpoint run. :class:`ytempire_dq.gx.stores.BoundedValidationResultsStore` masks the result
there, in place: the stored file (hence Data Docs), the in-memory result the actions get (Redis
summary), the terminal table, ``--json`` and the run history all see masked values only.
:func:`mask_text` masks e-mail-shaped text in log lines (``context.MaskingFormatter``).

**The salt**: ``YTDQ_PII_SALT`` when set (a deployment's secret store sets it, the same for every
machine that must produce comparable masks); else a random 32-byte secret created once in
``.ytdq/pii_salt`` (git-ignored, mode 0600) under the project. Not in the repository: a salt
everyone can read would let anyone confirm a guessed e-mail address against a mask.

**Which columns** (see the docs/personal-data.md, "Personal data"): what identifies or was written by a person
(e-mail, username, API key names, channel names, free-text error messages) and secrets (password
and key hashes). Not masked: row ids (pseudonymous keys; the quarantine keeps them so a row can be
found), and video titles/descriptions (generated content the platform publishes on YouTube; the
``videos.title_has_no_markup`` sample must show the markup it found).
"""

from __future__ import annotations

import hashlib
import hmac
import os
import re
from functools import lru_cache
from pathlib import Path
from typing import Any

from ytempire_dq.values import any_leaf, map_leaves

#: Per table, the columns holding personal data or secrets. The ONE declaration: the masking
#: below, the quarantine (``dq.quarantine`` stores no such column) and docs/personal-data.md read it.
PII_COLUMNS: dict[str, tuple[str, ...]] = {
    "users": ("email", "username", "password_hash"),
    "api_keys": ("name", "key_hash"),
    "channels": ("channel_name",),
    "workflows": ("error_message",),
}
#: Every declared column name: SQL rules return rows of joins, so a row's columns are matched by
#: name whatever table they came from (an analyst's SQL must keep the column's own name).
PII_NAMES: frozenset[str] = frozenset(c for columns in PII_COLUMNS.values() for c in columns)

#: Redis key prefixes whose rest is a personal identifier: a session token (an online identifier,
#: and a bearer secret). ``session:<token>`` is shown as ``session:pii:<12 hex>``; ``ratelimit:<user
#: id>:<window>`` and ``video:<id>:stats`` name ids and stay as they are.
KEY_PREFIXES = ("session:",)

PREFIX = "pii:"
DIGITS = 12
_MASKED = re.compile(rf"^{PREFIX}[0-9a-f]{{{DIGITS}}}$")
#: E-mail-shaped text (the schema's own address pattern, unanchored) for log lines; not the user
#: part of a URL (``scheme://user@host``: config.mask_url's business, and the host must stay readable).
EMAIL_TEXT = re.compile(r"(?<![A-Za-z0-9._%+/-])[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}")
SALT_ENV = "YTDQ_PII_SALT"
SALT_FILE = "pii_salt"

#: Result keys whose lists hold values of the rule's own column(s).
_VALUE_LISTS = ("partial_unexpected_list", "unexpected_list")
_COUNT_LISTS = ("partial_unexpected_counts", "unexpected_counts")


def salt() -> bytes:
    """``YTDQ_PII_SALT``, else the project's secret file (created on first use)."""
    env = os.environ.get(SALT_ENV)
    if env:
        return env.encode()
    from ytempire_dq import config

    return _file_salt(config.STATE_DIR / SALT_FILE)


@lru_cache(maxsize=4)
def _file_salt(path: Path) -> bytes:
    path.parent.mkdir(parents=True, exist_ok=True)
    try:  # O_EXCL: two processes starting at once agree on one salt
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return path.read_bytes().strip()
    secret = os.urandom(32).hex().encode()
    with os.fdopen(fd, "wb") as out:
        out.write(secret)
    return secret


def mask(value: Any) -> Any:
    """``pii:<12 hex>`` for a value (None stays None: a missing value is no personal data; a
    value already masked stays as it is, so masking twice changes nothing)."""
    if value is None:
        return None
    text = value if isinstance(value, str) else str(value)
    if _MASKED.match(text):
        return text
    digest = hmac.new(salt(), text.encode("utf-8", "surrogatepass"), hashlib.sha256).hexdigest()
    return PREFIX + digest[:DIGITS]


def is_pii(column: Any) -> bool:
    return isinstance(column, str) and column in PII_NAMES


def mask_text(text: str) -> str:
    """``text`` with every e-mail-shaped substring masked (log lines, error texts)."""
    return EMAIL_TEXT.sub(lambda m: mask(m.group(0)), text) if "@" in text else text


def mask_key_names(value: Any) -> Any:
    """``value`` with every string naming a Redis key of :data:`KEY_PREFIXES` masked after its prefix."""

    def leaf(item: Any) -> Any:
        if isinstance(item, str):
            for prefix in KEY_PREFIXES:
                if item.startswith(prefix):
                    return prefix + mask(item[len(prefix) :])
        return item

    return map_leaves(value, leaf)


def mask_row(row: Any) -> Any:
    """A row (dict, at any depth of lists/dicts) with the values of PII columns masked."""
    if isinstance(row, dict):
        return {k: mask_deep(v) if is_pii(k) else mask_row(v) for k, v in row.items()}
    if isinstance(row, (list, tuple)):
        return [mask_row(v) for v in row]
    return row


def mask_deep(value: Any) -> Any:
    """Every scalar inside ``value`` masked (a PII column holding a list or a dict)."""
    return map_leaves(value, mask)


def rule_columns(kwargs: dict) -> list[str]:
    """The columns a rule's sample values belong to, in the order GX gives them."""
    if kwargs.get("column_list"):
        return list(kwargs["column_list"])
    if kwargs.get("column_A") or kwargs.get("column_B"):
        return [kwargs.get("column_A"), kwargs.get("column_B")]
    return [kwargs["column"]] if kwargs.get("column") else []


def _mask_value(value: Any, columns: list[str]) -> Any:
    """One sample value of a rule on ``columns``: a row (dict), a tuple of the columns' values, or
    one value of its single column."""
    if isinstance(value, dict):
        return mask_row(value)
    if isinstance(value, (list, tuple)) and len(columns) > 1 and len(value) == len(columns):
        return [mask_deep(v) if is_pii(c) else v for v, c in zip(value, columns)]
    if len(columns) == 1 and is_pii(columns[0]):
        return mask_deep(value)
    return mask_row(value)


def mask_result(result: dict, kwargs: dict) -> dict:
    """A rule's ``result`` dict with every PII value masked (in place, returned): the sample lists
    of a rule on a PII column, ``observed_value`` of such an aggregate rule, and everywhere else any row field
    named like a PII column (SQL rules' ``details.unexpected_rows``, index lists), and session
    tokens in Redis key names."""
    if not isinstance(result, dict) or not result:
        return result
    columns = [c for c in rule_columns(kwargs or {}) if isinstance(c, str)]
    # an aggregate rule's observed value is data (a max, the distinct values); a map rule's (it
    # counts unexpected rows) is a statement about them, e.g. the fast path's "proved by unique index"
    aggregate = any(is_pii(c) for c in columns) and "unexpected_count" not in result
    for key in list(result):
        value = result[key]
        if key in _VALUE_LISTS and isinstance(value, list):
            result[key] = [_mask_value(v, columns) for v in value]
        elif key in _COUNT_LISTS and isinstance(value, list):
            result[key] = [
                {**item, "value": _mask_value(item.get("value"), columns)} if isinstance(item, dict) else item
                for item in value
            ]
        elif key == "observed_value" and aggregate and isinstance(value, (str, list, tuple)):
            result[key] = mask_deep(value)
        else:
            result[key] = mask_row(value)
        result[key] = mask_key_names(result[key])  # the cache rules' samples name session keys
    return result


def mask_texts(value: Any, personal: bool = False) -> Any:
    """Every string inside ``value`` through :func:`mask_error` (error texts quote data values:
    ``invalid input syntax for type integer: "someone@example.com"``)."""
    return map_leaves(value, lambda item: mask_error(item, personal) if isinstance(item, str) else item)


#: Where PostgreSQL's messages quote a data value, as (where it starts, the character it ends
#: before): ``invalid input syntax for type integer: "…"`` (any ``word: "value"``; not JSON's
#: ``"key": "value"``), ``Key (email)=(…) already exists``, ``Failing row contains (…).``. A value,
#: which may hold quotes and parentheses itself, runs to the last such character of its line.
_QUOTES = ((re.compile(r'\w: "'), '"'), (re.compile(r"\)=\("), ")"), (re.compile(r"row contains \("), ")"))
#: A line ends at a newline, or at a ``\n`` written out (a log line holds tracebacks as ``repr`` text).
_LINES = re.compile(r"(\n|\\[nr])")
#: A declared column's name as a word of a rule's parameters (a column kwarg, an analyst's SQL).
_PII_WORD = re.compile(r"\b(?:" + "|".join(sorted(PII_NAMES, key=len, reverse=True)) + r")\b")


def reads_personal(kwargs: Any) -> bool:
    """Whether a rule's parameters name a declared personal column (its columns, or a word of its SQL)."""
    return any_leaf(kwargs, lambda item: isinstance(item, str) and bool(_PII_WORD.search(item)))


def mask_error(text: str, personal: bool) -> str:
    """An error text with e-mail addresses masked and, when the rule reads a personal column
    (``personal``), every value PostgreSQL quotes masked too (``…: "pii:…"``): the value it could not
    cast is a username as easily as an e-mail address."""
    text = mask_text(text)
    if not personal:
        return text
    return "".join(_mask_quoted(line) for line in _LINES.split(text))


def _mask_quoted(line: str) -> str:
    """``line`` with the value each of :data:`_QUOTES` finds masked (one search and one ``rfind``
    each: linear, whatever the line holds)."""
    for start, end in _QUOTES:
        found = start.search(line)
        stop = line.rfind(end) if found else -1
        if found and stop >= found.end():
            line = line[: found.end()] + mask(line[found.end() : stop]) + line[stop:]
    return line


def mask_suite_result(suite_result: Any) -> Any:
    """A GX ``ExpectationSuiteValidationResult`` (object or its JSON dict) with every rule's
    result masked and its error texts through :func:`mask_error`, in place; returned."""
    rules = suite_result.get("results") if isinstance(suite_result, dict) else getattr(suite_result, "results", None)
    for rule in rules or []:
        if isinstance(rule, dict):
            config = rule.get("expectation_config") or {}
            kwargs = config.get("kwargs") if isinstance(config, dict) else getattr(config, "kwargs", {})
            if rule.get("result"):
                rule["result"] = mask_result(rule["result"], dict(kwargs or {}))
            if rule.get("exception_info"):
                rule["exception_info"] = mask_texts(rule["exception_info"], reads_personal(kwargs))
            continue
        config = getattr(rule, "expectation_config", None)
        kwargs = dict(getattr(config, "kwargs", None) or {})
        if getattr(rule, "result", None):
            rule.result = mask_result(rule.result, kwargs)
        if getattr(rule, "exception_info", None):
            rule.exception_info = mask_texts(rule.exception_info, reads_personal(kwargs))
    return suite_result


def columns_of(table: str) -> tuple[str, ...]:
    """The declared PII columns of ``table`` (``schema.name`` allowed)."""
    return PII_COLUMNS.get(table.rpartition(".")[2], ())


def names() -> list[str]:
    """Every declared PII column name, sorted (what the quarantine strips from whole rows)."""
    return sorted(PII_NAMES)
