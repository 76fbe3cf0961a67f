"""The project's custom GX expectations; importing this package registers every one of them.

Import it before loading any suite that names them (GX drops an expectation whose class is not
registered when the suite loads, and a later save deletes it from the file). A new expectation is
one file here, ``expect_<what>.py`` defining ``Expect<What>``, and its tests: this package imports
every such file, and ``ytdq suite types`` (docs/expectations.md) lists what they register. The
shared bases: ``_cross_table`` (one PostgreSQL query from the parameters), ``_history_band``
(volume and drift against the run history; ``_seasonal``: against the table's own previous days)
and ``_cross_store`` (a pandas batch, the Redis
snapshot, checked against PostgreSQL); what a run needs to know about an expectation is declared
on its class, with defaults on the bases.
"""

import importlib
import pkgutil


def _class_name(module: str) -> str:
    return "".join(part.title() for part in module.split("_"))


def _import_expectations() -> tuple[str, ...]:
    """Import every ``expect_*`` module of this package (registering its class with GX) and export
    its class under its own name; the class names, in file order."""
    names = []
    for info in pkgutil.iter_modules(__path__):
        if info.name.startswith("expect_"):
            name = _class_name(info.name)
            globals()[name] = getattr(importlib.import_module(f"{__name__}.{info.name}"), name)
            names.append(name)
    return tuple(names)


#: The custom expectation classes' names (each also a name of this package).
CLASSES = _import_expectations()
__all__ = ("CLASSES", "HISTORY_BAND_TYPES", "table_references", *CLASSES)

#: The volume/drift types (their class declares ``history_band``): their observed value is
#: recorded in dq.metrics; they have no offending rows.
HISTORY_BAND_TYPES = tuple(
    cls.expectation_type for cls in (globals()[name] for name in CLASSES) if getattr(cls, "history_band", False)
)


def table_references(expectation_type: str, kwargs: dict) -> list[tuple[str, list[str]]] | None:
    """``[(table, [its columns])]`` that a rule of one of this project's expectations names in its
    parameters (what its class declares: ``table_references``, from ``table_columns``; defaults
    filled in, dict fields by their keys); None for an expectation that declares none (GX's own:
    its table is the batch's)."""
    from great_expectations.exceptions import ExpectationNotFoundError

    from ytempire_dq.gx.compat import expectation_class

    try:
        declared = getattr(expectation_class(expectation_type), "table_references", None)
    except ExpectationNotFoundError:  # an unknown type: lint reports it elsewhere
        return None
    if declared is None:
        return None
    return declared(kwargs) or None
