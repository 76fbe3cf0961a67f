"""``ytdq suite suggest TABLE``: profile a table and write a *draft* suite of rules it keeps today.

GX 0.18 had profilers; GX 1.x removed them. This one is small and explicit: :mod:`ytempire_dq.rules.profile`
gathers the evidence (catalog, three aggregate queries, one snapshot); this module turns it into
rules, each keeping its evidence in ``meta.suggested_from``. A draft is for a person to review.

What is suggested, and why:

- the column set, and each column's type (the catalog's, as GX reads it);
- not-null where the table has rows and no nulls;
- a value set for a text column with at most :data:`ytempire_dq.rules.profile.MAX_SET_VALUES` (20) distinct values that repeat
  (at least two rows per value on average: otherwise it is a sample of free text);
- a range for a numeric column, widened by a **margin** of one mean gap between neighbouring values,
  ``(max - min) / (n - 1)`` on each side: the unbiased estimate of where a uniform range of ``n``
  values really ends. It is wide for a small sample (2 values: the whole spread again) and tight for
  a large one, so a draft neither fails tomorrow's ordinary values nor waves far-off ones through.
  A sign seen on every value is kept (never negative: counts, money), and the bounds are rounded
  outwards to the column's scale. Timestamps get no range: tomorrow's rows are later than any seen;
- a regular expression for an id-like text column (named ``id``/``*_id``/``*_key``/``*_hash``/
  ``*_code``/``*_token``, or all values of one length of 8+): the common prefix of all values,
  then the narrowest character class every value keeps, with the lengths seen;
- uniqueness where a valid, non-partial unique index on plain columns exists (``meta.enforced_by``
  names it, as the hand-written suites do).

A draft is a file people read, commit and share: no value of a declared personal column
(:data:`ytempire_dq.pii.PII_COLUMNS`: e-mails, usernames, key names, password and key hashes) is
written into it. Such a column gets no value set and no range (both would list or bound its values),
and its format rule's evidence keeps counts, lengths and the shape, not the smallest and largest value.
"""

from __future__ import annotations

import json
import math
import re
from decimal import Decimal
from pathlib import Path
from typing import Any

from ytempire_dq.errors import YtdqError
from ytempire_dq.rules.profile import profile
from ytempire_dq.values import plural

DRAFT = "draft suggested by `ytdq suite suggest`: review every rule (and its meta.suggested_from) before relying on it"


def _slug(name: str) -> str:
    return re.sub(r"[^a-z0-9]+", "_", name.lower()).strip("_") or "x"


def _number(value: Any) -> Any:
    """A JSON number for a database value (Decimal -> int or float)."""
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    return value


def _outward(lo: Decimal, hi: Decimal, scale: int | None) -> tuple[Any, Any]:
    """[lo, hi] rounded outwards to ``scale`` decimals (None: as they are)."""
    if scale is None:
        return float(lo), float(hi)
    step = Decimal(1).scaleb(-scale)
    lo = (lo / step).to_integral_value(rounding="ROUND_FLOOR") * step
    hi = (hi / step).to_integral_value(rounding="ROUND_CEILING") * step
    return (int(lo), int(hi)) if scale == 0 else (float(lo), float(hi))


def range_with_margin(lo: Any, hi: Any, n: int, scale: int | None) -> dict:
    """The suggested [min_value, max_value] for ``n`` values from ``lo`` to ``hi`` (see the module
    docstring for why this margin), with the margin used."""
    lo, hi = Decimal(str(lo)), Decimal(str(hi))
    margin = (hi - lo) / (n - 1)
    low, high = lo - margin, hi + margin
    if lo >= 0:
        low = max(low, Decimal(0))
    if hi <= 0:
        high = min(high, Decimal(0))
    low, high = _outward(low, high, scale)
    return {"min_value": low, "max_value": high, "margin": _number(margin.quantize(Decimal("1e-6")).normalize())}


# ---------------------------------------------------------------------------------------------
# the draft suite


def _rule(rule_id: str, type_: str, description: str, kwargs: dict, evidence: dict, enforced_by: str | None = None):
    meta: dict[str, Any] = {"rule_id": rule_id, "suggested_from": evidence}
    if enforced_by:
        meta["enforced_by"] = enforced_by
    return {"type": type_, "description": f"{description} (draft)", "kwargs": kwargs, "meta": meta}


def _column_rules(table: str, prefix: str, col: dict, rows: int) -> list[dict]:
    name, slug = col["name"], col["slug"]
    personal = col.get("personal", False)  # its values stay in the database (see the module docstring)
    where = f"{table}.{name}"
    out = [
        _rule(
            f"{prefix}_{slug}_type",
            "expect_column_values_to_be_in_type_list",
            f"{where} is of type {col['type']}",
            {"column": name, "type_list": [col["type"]]},
            {"catalog_type": col["type"]},
        )
    ]
    if rows and col["non_null"] == rows:
        out.append(
            _rule(
                f"{prefix}_{slug}_not_null",
                "expect_column_values_to_not_be_null",
                f"{where} is never null ({rows} of {plural(rows, 'row')} had a value)",
                {"column": name},
                {"rows": rows, "nulls": 0, "catalog_nullable": col["nullable"]},
                None if col["nullable"] else f"{where} NOT NULL",
            )
        )
    if "values" in col and not personal:
        values = col["values"]
        out.append(
            _rule(
                f"{prefix}_{slug}_in_set",
                "expect_column_values_to_be_in_set",
                f"{where} is one of the {plural(len(values), 'value')} seen",
                {"column": name, "value_set": list(values)},
                {"non_null": col["non_null"], "distinct": col["distinct"], "values": values},
            )
        )
    numbers = col["kind"] in ("integer", "number") and col["non_null"] >= 2 and not personal
    if numbers and all(math.isfinite(col[k]) for k in ("min", "max")) and col["max"] > col["min"]:
        r = range_with_margin(col["min"], col["max"], col["non_null"], col["scale"])
        out.append(
            _rule(
                f"{prefix}_{slug}_range",
                "expect_column_values_to_be_between",
                f"{where} is within [{r['min_value']}, {r['max_value']}]: the {col['non_null']} values seen, "
                f"from {_number(col['min'])} to {_number(col['max'])}, widened by their mean gap",
                {"column": name, "min_value": r["min_value"], "max_value": r["max_value"]},
                {
                    "non_null": col["non_null"],
                    "min": _number(col["min"]),
                    "max": _number(col["max"]),
                    "margin": r["margin"],
                    "margin_rule": "(max - min) / (non_null - 1) each side; never past 0 when every value kept its sign; "
                    "rounded outwards to the column's scale",
                },
            )
        )
    if "pattern" in col:
        p = col["pattern"]
        seen = (
            {"personal": "declared in pii.PII_COLUMNS: no values shown"}
            if personal
            else {"min": col["min"], "max": col["max"]}
        )
        out.append(
            _rule(
                f"{prefix}_{slug}_format",
                "expect_column_values_to_match_regex",
                f"{where} matches {p['regex']}",
                {"column": name, "regex": p["regex"]},
                {
                    "non_null": col["non_null"],
                    "distinct": col["distinct"],
                    "min_length": col["min_length"],
                    "max_length": col["max_length"],
                    "common_prefix": p["prefix"],
                    "characters": p["characters"],
                    **seen,
                },
            )
        )
    return out


def suggest_suite(name: str, evidence: dict) -> dict:
    """The draft suite ``name`` (GX's suite JSON, every rule with ``id``, ``meta.rule_id``,
    description and ``meta.suggested_from``) for the :func:`profile` ``evidence``."""
    from great_expectations import __version__ as gx_version

    from ytempire_dq.rules.suite_files import missing_id

    table, rows = evidence["table"], evidence["rows"]
    prefix = f"{_slug(table)}.suggested"
    seen: set[str] = set()
    for col in evidence["columns"]:
        slug = _slug(col["name"])
        while slug in seen:
            slug += "_"
        seen.add(slug)
        col["slug"] = slug
    names = [c["name"] for c in evidence["columns"]]
    rules = [
        _rule(
            f"{prefix}_columns",
            "expect_table_columns_to_match_set",
            f"{table} has exactly the columns {', '.join(names)}",
            {"column_set": names, "exact_match": True},
            {"catalog_columns": names},
        )
    ]
    by_name = {c["name"]: c for c in evidence["columns"]}
    for col in evidence["columns"]:
        rules += _column_rules(table, prefix, col, rows)
    for index in evidence["unique_indexes"]:
        cols = index["columns"]
        slug = "_".join(by_name[c]["slug"] for c in cols)
        shown = ", ".join(cols)
        kwargs = {"column": cols[0]} if len(cols) == 1 else {"column_list": cols}
        rules.append(
            _rule(
                f"{prefix}_{slug}_unique",
                "expect_column_values_to_be_unique" if len(cols) == 1 else "expect_compound_columns_to_be_unique",
                f"{table}.({shown}) is unique" if len(cols) > 1 else f"{table}.{shown} is unique",
                kwargs,
                {"unique_index": index["name"], "rows": rows},
                index["name"],
            )
        )
    for i, rule in enumerate(rules):
        rule["id"] = missing_id(name, i, rule)
    return {
        "name": name,
        "expectations": rules,
        "meta": {
            "great_expectations_version": gx_version,
            "suggested": {"table": table, "rows": rows, "profiled_at": evidence["profiled_at"], "note": DRAFT},
        },
        "notes": None,
    }


def default_name(table: str) -> str:
    return f"{_slug(table)}_suggested"


def _rule_ids_elsewhere(store: Path) -> dict[str, str]:
    """{rule_id: file} of the suites in ``store`` (the draft's rule_ids must not be among them)."""
    out = {}
    for other in sorted(store.glob("*.json")):
        try:
            doc = json.loads(other.read_text())
        except (OSError, ValueError):
            continue  # lint reports it
        for exp in doc.get("expectations") or [] if isinstance(doc, dict) else []:
            rid = (exp.get("meta") or {}).get("rule_id") if isinstance(exp, dict) else None
            if rid:
                out[rid] = other.name
    return out


def write_suggestion(
    table: str,
    out: Path | str | None = None,
    *,
    checkpoint: str | None = None,
    config_dir: Path | str | None = None,
    database_url: str | None = None,
) -> dict:
    """Profile ``table`` and write the draft suite.

    ``out=None``: into the project as suite ``<table>_suggested`` (``expectations/<table>_suggested.json``)
    with its validation definition when ``table`` is a data asset (the ``ytdq suite new`` flow; added
    to ``checkpoint`` when given), so ``suite lint`` checks its columns and a checkpoint can run it.
    ``out=FILE``: that file only; ``out="-"``: nothing written (the JSON is in ``"text"``).
    Never overwrites a file or a suite (:class:`YtdqError` naming it). The table is profiled before
    anything is written. Returns ``{"suite", "file", "validation_definition", "rules", "rows", "text"}``.
    """
    from ytempire_dq.locations import asset_tables, store_dir
    from ytempire_dq.rules.suite_files import new_suite

    store = store_dir("suites", config_dir)
    path = None if out == "-" else (Path(out) if out is not None else store / f"{default_name(table)}.json")
    name = default_name(table) if path is None else path.stem
    if path is not None:
        path = path.resolve()
        _refuse_existing(path)
        if not path.parent.is_dir():
            raise YtdqError(f"{path}: no directory {path.parent}")
        if path.parent == store and not re.fullmatch(r"[a-z][a-z0-9_]*", name):
            raise YtdqError(f"{path}: a suite's file name is its name: use lower-case letters, digits and '_'")
    doc = suggest_suite(name, profile(table, database_url))
    in_store = path is not None and path.parent == store
    if in_store:
        taken = _rule_ids_elsewhere(store)
        clash = sorted({e["meta"]["rule_id"] for e in doc["expectations"]} & set(taken))
        if clash:
            raise YtdqError(
                f"{path}: rule_id {clash[0]!r} is already used in {taken[clash[0]]} (rule_ids are unique across suites)"
            )
    vd = None
    if out is None and table in {t for t in asset_tables(config_dir).values() if t}:
        asset = next(a for a, t in asset_tables(config_dir).items() if t == table)
        made = new_suite(name, asset, checkpoint=checkpoint, config_dir=config_dir)  # GX writes an empty suite
        doc["id"] = json.loads(path.read_text()).get("id")  # ... whose id the validation definition names
        path.unlink()
        vd = made["validation_definition"]
    elif checkpoint is not None:
        raise YtdqError(
            f"--checkpoint needs a suite in the project for a data asset; {table!r} is none (or --out was given)"
        )
    text = json.dumps(doc, indent=2, sort_keys=True) + "\n"
    if path is not None:
        try:
            with path.open("x") as f:  # "x": fails rather than overwrite a file created meanwhile
                f.write(text)
        except FileExistsError:
            _refuse_existing(path)
        except OSError as exc:
            raise YtdqError(f"{path}: cannot write: {exc.strerror or exc}") from None
    return {
        "suite": name,
        "file": str(path) if path else None,
        "validation_definition": vd,
        "rules": len(doc["expectations"]),
        "rows": doc["meta"]["suggested"]["rows"],
        "text": text,
    }


def _refuse_existing(path: Path) -> None:
    if path.exists():
        from ytempire_dq.locations import project_relative

        shown = project_relative(path)
        raise YtdqError(f"{shown} exists already: suggest never overwrites a file (choose another --out, or delete it)")
