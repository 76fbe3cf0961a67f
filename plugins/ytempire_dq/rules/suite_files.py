"""Suite files as the source of truth: read them, check what results are keyed by, show and create them.

GX silently drops an expectation whose type it does not know when it loads a suite, so the
files are read here first: :func:`read_suite_file` is what both ``ytdq suite lint`` and the
checkpoint runner's pre-flight use, and its errors name the file and the problem."""

from __future__ import annotations

import json
import re
import uuid
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from ytempire_dq import config
from ytempire_dq.errors import CONTROL, YtdqError, printable
from ytempire_dq.locations import (
    asset_tables,
    config_dir_of,
    list_checkpoints,
    list_suites,
    project_relative,
    store_dir,
    suite_path,
)
from ytempire_dq.values import plural

#: Namespace of the ids given to expectations that have none in their suite file.
RULE_ID_NAMESPACE = uuid.UUID("6f1b7c2e-3d44-4c1e-9a57-0d2b8f4e9c11")


def missing_id(suite_name: str, position: int, expectation: dict) -> str:
    """The id a rule without one gets: stable for the same suite, position and content (GX-free,
    so ``suite lint --fix`` and ``suite suggest`` need no GX import; the store gives the same id)."""
    # GX's suite schema adds severity "critical" when a file leaves it out: the same content either way
    content = {"severity": "critical", **{k: v for k, v in expectation.items() if k != "id"}}
    content = json.dumps(content, sort_keys=True, default=str)
    return str(uuid.uuid5(RULE_ID_NAMESPACE, f"{suite_name}#{position}#{content}"))


class SuiteFileError(YtdqError):
    """A suite, checkpoint or validation definition file that cannot be used as it is."""


@dataclass(frozen=True)
class Problem:
    """One lint finding: which file, which rule (if any), what is wrong."""

    file: str
    rule_id: str | None
    message: str
    level: str = "error"  # "warning": could not check (e.g. database unreachable)

    def to_dict(self) -> dict:
        return asdict(self)

    def __str__(self) -> str:
        where = f"{self.file}" + (f" [{self.rule_id}]" if self.rule_id else "")
        return printable(f"{where}: {self.level}: {self.message}")  # a suite's strings, printed, never obeyed


def read_json_file(path: Path, what: str = "file") -> dict:
    """A JSON object from ``path``; anything else raises :class:`SuiteFileError` naming the file."""
    try:
        text = Path(path).read_text()
    except OSError as exc:
        raise SuiteFileError(f"{path}: cannot read {what}: {exc.strerror or exc}") from None
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as exc:
        raise SuiteFileError(f"{path}: malformed JSON at line {exc.lineno} column {exc.colno}: {exc.msg}") from None
    if not isinstance(doc, dict):
        raise SuiteFileError(f"{path}: a {what} must be a JSON object, not {type(doc).__name__}")
    return doc


def read_suite_file(path: Path) -> dict:
    """A suite file's JSON, checked for the shape GX needs (name, list of typed expectations)."""
    doc = read_json_file(path, "suite")
    if not isinstance(doc.get("name"), str) or not doc["name"]:
        raise SuiteFileError(f'{path}: the suite has no "name"')
    if doc["name"] != Path(path).stem:
        raise SuiteFileError(f"{path}: the suite is named {doc['name']!r} but the file is {Path(path).name}")
    exps = doc.get("expectations")
    if not isinstance(exps, list):
        raise SuiteFileError(f'{path}: "expectations" must be a list')
    for i, exp in enumerate(exps):
        if not isinstance(exp, dict) or not isinstance(exp.get("type"), str):
            raise SuiteFileError(f'{path}: expectation #{i + 1} has no "type"')
        if not isinstance(exp.get("kwargs", {}), dict):
            raise SuiteFileError(f'{path}: expectation #{i + 1} ({exp["type"]}): "kwargs" must be an object')
        if not isinstance(exp.get("meta", {}) or {}, dict):
            raise SuiteFileError(f'{path}: expectation #{i + 1} ({exp["type"]}): "meta" must be an object')
    return doc


def rule_column(kwargs: dict) -> str | None:
    """The column(s) a rule checks, as one label (``a`` or ``a,b``); None for a table-level rule."""
    if kwargs.get("column"):
        return kwargs["column"]
    if kwargs.get("column_list"):
        return ",".join(kwargs["column_list"])
    if kwargs.get("column_A") and kwargs.get("column_B"):
        return f"{kwargs['column_A']},{kwargs['column_B']}"
    return None


def _rule_row(exp: dict) -> dict:
    kwargs = exp.get("kwargs") or {}
    column = rule_column(kwargs)
    meta = exp.get("meta") or {}
    return {
        "rule_id": meta.get("rule_id"),
        "type": exp["type"],
        "column": column,
        "description": exp.get("description"),
        "enforced_by": meta.get("enforced_by"),
        "kwargs": kwargs,
    }


def show_suite(name: str, config_dir: Path | str | None = None) -> dict:
    """{"name", "file", "expectations": [{rule_id, type, column, description, enforced_by, kwargs}]} of one suite."""
    path = suite_path(name, config_dir)
    if not path.is_file():
        known = ", ".join(list_suites(config_dir)) or "none"
        raise YtdqError(f"no suite {name!r}; known suites: {known}")
    doc = read_suite_file(path)
    return {"name": doc["name"], "file": str(path), "expectations": [_rule_row(e) for e in doc["expectations"]]}


def registered_expectation_types() -> set[str]:
    """Every expectation type GX knows now (core + ours once registered)."""
    from ytempire_dq.gx.compat import registered_expectation_types

    return set(registered_expectation_types())


def check_suite_loads(ctx: Any, path: Path) -> None:
    """Raise :class:`SuiteFileError` unless GX loads EVERY expectation of the suite file.

    GX drops an expectation of an unknown type with only a log line; running such a suite would
    quietly skip the rule (and saving it would delete it), so the run is refused instead.
    """
    doc = read_suite_file(path)
    known = registered_expectation_types()
    unknown = sorted({e["type"] for e in doc["expectations"]} - known)
    if unknown:
        raise SuiteFileError(
            f"{path}: {plural(len(unknown), 'unknown expectation type')} {', '.join(unknown)} "
            "(not a GX expectation and not one of ytempire_dq.expectations)"
        )
    try:
        suite = ctx.suites.get(doc["name"])
    except Exception as exc:  # noqa: BLE001 - GX raises many kinds here: one line naming the file, exit 2
        raise SuiteFileError(f"{path}: GX cannot load the suite: {exc}") from None
    if len(suite.expectations) != len(doc["expectations"]):
        raise SuiteFileError(
            f"{path}: GX loaded {len(suite.expectations)} of the file's "
            f"{len(doc['expectations'])} expectations (invalid parameters?)"
        )


def _place(rel: str, i: int) -> str:
    return f"{rel} #{i + 1}"


def rule_key_problems(docs: dict[str, dict]) -> list[Problem]:
    """Errors in what results are keyed by, across the suites ``{file: suite JSON}`` (all the
    suites of a project, or of one checkpoint): a rule without ``meta.rule_id``, a ``rule_id``
    holding control characters (shown escaped), a ``rule_id`` or an expectation ``id`` used twice (in
    one suite or across suites). Each names every place."""
    problems: list[Problem] = []
    rule_ids: dict[str, list[str]] = {}
    ids: dict[str, list[str]] = {}
    first_file: dict[str, str] = {}
    for rel, doc in docs.items():
        for i, exp in enumerate(doc["expectations"]):
            rule_id = (exp.get("meta") or {}).get("rule_id")
            if not rule_id:
                problems.append(
                    Problem(
                        rel,
                        None,
                        f"expectation #{i + 1} ({exp['type']}): no meta.rule_id "
                        "(every rule needs one: history, quarantine and alerts key on it)",
                    )
                )
            else:
                if CONTROL.search(str(rule_id)):  # a terminal would obey them; history and alerts key on it
                    shown = printable(str(rule_id), lines=False)
                    problems.append(
                        Problem(
                            rel,
                            shown,
                            f"expectation #{i + 1} ({exp['type']}): rule_id '{shown}' holds control characters "
                            "(NUL, ESC, newline ...): use table.rule_name",
                        )
                    )
                rule_ids.setdefault(str(rule_id), []).append(_place(rel, i))
                first_file.setdefault(str(rule_id), rel)
            if exp.get("id"):
                ids.setdefault(str(exp["id"]), []).append(_place(rel, i))
                first_file.setdefault("id:" + str(exp["id"]), rel)
    for rule_id, places in rule_ids.items():
        if len(places) > 1:
            problems.append(
                Problem(
                    first_file[rule_id],
                    rule_id,
                    f"rule_id {rule_id!r} is used {len(places)} times: {', '.join(places)} (rule_ids must be unique)",
                )
            )
    for id_, places in ids.items():
        if len(places) > 1:
            problems.append(
                Problem(
                    first_file["id:" + id_],
                    None,
                    f"expectation id {id_!r} is used {len(places)} "
                    f'times: {", ".join(places)} (delete the copies\' "id"; `ytdq suite lint --fix` '
                    "writes new ones)",
                )
            )
    return problems


def check_rule_keys(paths: list[Path], what: str) -> None:
    """Raise :class:`SuiteFileError` (one line, every place named) when :func:`rule_key_problems`
    finds any in the suite files ``paths``; ``what`` says what refuses (e.g. a checkpoint)."""
    problems = rule_key_problems({project_relative(p): read_suite_file(p) for p in paths})
    if problems:
        details = "; ".join(f"{p.file}: {p.message}" if p.file not in p.message else p.message for p in problems)
        raise SuiteFileError(f"{what}: {details} (see `ytdq suite lint`)")


def new_suite(name: str, asset: str, *, checkpoint: str | None = None, config_dir: Path | str | None = None) -> dict:
    """An empty suite ``name`` for data asset ``asset`` and its validation definition (added to
    ``checkpoint`` when given), written by GX itself so the files are in GX's format; an analyst then
    appends rules to the suite file. Names already taken and unknown assets are refused."""
    import great_expectations as gx

    from ytempire_dq.gx.context import open_context

    cdir = config_dir_of(config_dir)
    if not re.fullmatch(r"[a-z][a-z0-9_]*", name):
        raise YtdqError(f"suite name {name!r}: use lower-case letters, digits and '_' (it names the file)")
    if name in list_suites(cdir) or (store_dir("validation_definitions", cdir) / f"{name}.json").exists():
        raise YtdqError(f"suite {name!r} exists already: {project_relative(suite_path(name, cdir))}")
    ctx = open_context(cdir, database_url=config.database_url(required=False) or "postgresql://unused/unused")
    found = [ds for ds in ctx.data_sources.all().values() if asset in {a.name for a in ds.assets}]
    if not found:
        raise YtdqError(f"unknown data asset {asset!r}; known: {', '.join(sorted(asset_tables(cdir)))}")
    if checkpoint is not None:
        cp = _existing_checkpoint(ctx, checkpoint, cdir)
    batch_definition = found[0].get_asset(asset).batch_definitions[0]
    suite = ctx.suites.add(gx.ExpectationSuite(name=name))
    vd = ctx.validation_definitions.add(gx.ValidationDefinition(name=name, data=batch_definition, suite=suite))
    if checkpoint is not None:
        from ytempire_dq.cache.batch import on_cache

        # a checkpoint that runs the cache last (nightly) keeps it last: tables first, then the cache
        at = len(cp.validation_definitions)
        while at and not on_cache(vd) and on_cache(cp.validation_definitions[at - 1]):
            at -= 1
        cp.validation_definitions.insert(at, vd)
        cp.save()
    return {
        "suite": project_relative(suite_path(name, cdir)),
        "asset": asset,
        "checkpoint": checkpoint,
        "validation_definition": project_relative(store_dir("validation_definitions", cdir) / f"{name}.json"),
    }


def _existing_checkpoint(ctx: Any, name: str, cdir: Path) -> Any:
    known = list_checkpoints(cdir)
    if name not in known:
        raise YtdqError(f"unknown checkpoint {name!r}; known: {', '.join(known)}")
    return ctx.checkpoints.get(name)
