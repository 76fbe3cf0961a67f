"""The project's custom expectation types, read from GX's registry: what ``ytdq suite types``
prints and what the documentation's list (``docs/expectations.md``) is generated from, so a new
expectation file appears in both without editing either."""

from __future__ import annotations

from dataclasses import dataclass

PACKAGE = "ytempire_dq.expectations"


@dataclass(frozen=True)
class ExpectationType:
    name: str  # the snake_case type a suite file names
    summary: str  # the first line of its docstring
    parameters: tuple[tuple[str, str], ...]  # (field, description) of the fields the class adds
    source: str  # the module that defines it


def custom_types() -> list[ExpectationType]:
    """Every registered expectation type whose class is defined in this package, by name."""
    from great_expectations.expectations.expectation import Expectation

    import ytempire_dq.expectations  # noqa: F401 - registers them
    from ytempire_dq.gx.compat import expectation_class, registered_expectation_types

    found = []
    for name in registered_expectation_types():
        cls = expectation_class(name)
        if not cls.__module__.startswith(PACKAGE + "."):
            continue
        doc = (cls.__doc__ or "").strip()
        hidden = set(getattr(cls, "internal_fields", ()))  # set by a run, never written in a suite
        for base in cls.__mro__:
            if base.__module__.startswith("great_expectations.") and issubclass(base, Expectation):
                hidden |= set(base.__fields__)  # GX's own (id, meta, description, …)
        fields = tuple(
            (field, (info.field_info.description or "").strip())
            for field, info in cls.__fields__.items()
            if field not in hidden
        )
        found.append(ExpectationType(name, doc.splitlines()[0] if doc else "", fields, cls.__module__))
    return sorted(found, key=lambda t: t.name)


def _cell(text: str) -> str:
    return " ".join(text.split()).replace("|", "\\|")


def markdown(types: list[ExpectationType]) -> str:
    """The documentation page: one section per type, its summary and parameters."""
    lines = [
        "# Custom expectations",
        "",
        "Generated from GX's registry by `ytdq suite types --markdown > docs/expectations.md`; a test",
        "keeps it equal to what the package registers. Use them in a suite file like GX's own types,",
        "with a `meta.rule_id` and a `description` (see [Add and tune rules](rules.md)).",
        "",
    ]
    for t in types:
        lines += [f"## `{t.name}`", "", t.summary, "", f"Defined in `{t.source}`.", ""]
        if t.parameters:
            lines += ["| parameter | meaning |", "|---|---|"]
            lines += [f"| `{field}` | {_cell(description)} |" for field, description in t.parameters]
            lines.append("")
    return "\n".join(lines)
