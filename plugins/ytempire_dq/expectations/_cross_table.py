"""What the cross-table expectations share: identifier checks, SQL generation, result shape, rendering.

Each expectation in this package is a GX ``UnexpectedRowsExpectation`` whose query is *generated*
from its parameters instead of being written by hand:

- **Stored as parameters only.** A suite file holds ``{"type": "expect_...", "kwargs": {"table":
  ..., ...}}`` with every parameter, defaults included (GX itself drops values equal to the
  default); ``unexpected_rows_query`` is a field that defaults to ``None``, is never passed in
  (passing it is an error) and so never lands in the file. The SQL is built again from the parameters whenever GX asks for the
  expectation's metric kwargs (``_get_success_kwargs``), so the stored rule and the SQL that
  runs cannot drift apart.
- **No ``{batch}`` warning.** GX's own validator prints "unexpected_rows_query should contain
  the {batch} parameter" when a query is *given* to the field. Ours never is, so the validator
  never runs. The rules name their tables themselves on purpose: they live in a ``cross_table``
  suite whose batch is just whatever table the validation definition points at.
- **One query.** GX's base class asks for two metrics (the rows, fetched up to 200, and
  ``SELECT COUNT(*) FROM (query)``): two scans. Ours asks only for
  ``unexpected_rows_query.table``; the generated query returns at most :data:`SAMPLE_SIZE`
  offending rows, each carrying the total count in a ``count(*) OVER ()`` column, so one
  statement gives both the count and the sample.
- **Identifiers** are checked to be plain names (``name`` or ``schema.name`` for tables) when
  the expectation is built (a pydantic ``ValidationError`` naming the field), and quoted by
  SQLAlchemy's PostgreSQL compiler; values (limits, filter values, tolerance) are rendered as
  SQL literals by SQLAlchemy, never pasted.
- **Incremental runs** (``ytempire_dq.run.incremental``): a rule ``incremental.yml`` lists under its
  child table (the field :attr:`CrossTableExpectation.child_table_field` names) gets, for that run
  only, a copy with ``incremental_since`` ``{column: value}``: it judges only the child rows with
  ``column > value`` (orphans) or the parents having such rows (aggregates); never stored.
- **Result**: ``observed_value`` (what GX's base reports) and ``unexpected_count`` are both the
  number of offending rows; ``partial_unexpected_list`` holds the sample's keys and
  ``details.unexpected_rows`` the sample rows themselves (SUMMARY and COMPLETE).

What the run needs to know about a rule is declared on its class, with defaults on
:class:`SentenceRendering` (every custom expectation of ours) and overrides on the bases
(:class:`CrossTableExpectation`, ``_history_band.HistoryBandExpectation``,
``_cross_store.CrossStoreExpectation``) and on a type that differs (orphans): a new expectation is
its own file and its tests, and nothing elsewhere names its type:

- ``table_references(kwargs)`` / ``tables_read()``: the tables its parameters name (from
  ``table_columns``): what the run's pre-flight requires to exist, what lint checks, what an
  incremental plan considers;
- ``offending_keys_select(primary_key)``: the SELECT of its offending rows and their table, for
  the quarantine (None: no rows to key, e.g. a metric); ``offending_keys_from_result(conn, result,
  primary_key)``: its rows' keys read from its own result when it lists them all (the fast path's
  key capture), else None;
- ``incremental_table()`` and ``incremental_scope(column, since)``: the child table whose new rows an
  incremental run may judge alone, and the copy of the rule that does (``run.incremental``;
  ``gx/incremental.yml`` says which rules of a checkpoint are scoped); ``row_level``: whether its
  verdict on new rows alone is its verdict on them (a map rule's is; ours are not);
- ``history_band``: a volume/drift rule, whose observed value is a metric recorded in ``dq.metrics``;
- ``samples_with_count``: its one query returns its count and its sample (the fast path runs it
  with the checkpoint's result format).
"""

from __future__ import annotations

import copy
import math
import re
from abc import abstractmethod
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, ClassVar, Dict, List, Optional, Tuple, Union

import sqlalchemy as sa
from great_expectations.compatibility import pydantic
from great_expectations.core.result_format import ResultFormat
from great_expectations.expectations.core.unexpected_rows_expectation import (
    UnexpectedRowsExpectation,
)
from great_expectations.render import (
    LegacyDiagnosticRendererType,
    LegacyRendererType,
    RenderedStringTemplateContent,
)
from great_expectations.render.renderer.renderer import renderer
from great_expectations.render.renderer_configuration import (
    RendererConfiguration,
    RendererValueType,
)
from typing_extensions import override

from ytempire_dq.gx import compat
from ytempire_dq.store import run_store
from ytempire_dq.values import jsonable

#: How many offending rows the result carries (the count is always exact).
SAMPLE_SIZE = 20
#: The window column that carries the total count on every sample row.
COUNT_COLUMN = "dq_unexpected_count"
TABLE_METRIC = "unexpected_rows_query.table"

_NAME = r"[A-Za-z_][A-Za-z0-9_]{0,62}"
_COLUMN_RE = re.compile(rf"^{_NAME}$")
_TABLE_RE = re.compile(rf"^(?:{_NAME}\.)?{_NAME}$")

# PostgreSQL with standard_conforming_strings=on (the default since 9.1): a backslash in a
# string literal is an ordinary character, so SQLAlchemy must not double it.
_DIALECT = compat.postgresql_literal_dialect()


def check_table_name(value: Any) -> str:
    """``value`` if it is a plain table name (``name`` or ``schema.name``), else ``ValueError``."""
    if not isinstance(value, str) or not _TABLE_RE.match(value):
        raise ValueError(
            f"{value!r} is not a plain table name: use letters, digits and underscores "
            "(e.g. 'channels' or 'public.channels'), at most 63 characters per part"
        )
    return value


def check_column_name(value: Any) -> str:
    """``value`` if it is a plain column name, else ``ValueError``."""
    if not isinstance(value, str) or not _COLUMN_RE.match(value):
        raise ValueError(
            f"{value!r} is not a plain column name: use letters, digits and underscores "
            "(e.g. 'user_id'), at most 63 characters"
        )
    return value


def check_where_columns(cls: Any, value: Optional[dict]) -> Optional[dict]:
    """Pydantic validator of a ``where`` parameter ({column: value}): every key a plain column name."""
    for name in value or {}:
        check_column_name(name)
    return value


def check_non_negative(cls: Any, value: Any, field: Any) -> Union[int, float]:
    """Pydantic validator of a numeric parameter that may not be negative (:func:`check_number`)."""
    return check_number(value, field.name)


def apply_where(query: sa.Select, table: Any, where: Optional[dict]) -> sa.Select:
    """``query`` restricted to the rows of ``table`` whose columns equal ``where``'s values (bound)."""
    for name, value in (where or {}).items():
        query = query.where(table.c[name] == sa.literal(value))
    return query


def check_identifier_field(cls: Any, value: Any, field: Any) -> Any:
    """Pydantic validator of the cross-table and cross-store expectations: a table field of the
    class's ``table_columns``, and a column field there or in ``column_fields``, must hold a plain
    name (it is quoted into SQL); an optional one may be left out (None); a dict-valued field
    (e.g. ``child_filter``) is checked by its own type."""
    if value is None and not field.required:
        return value
    if field.name in cls.table_columns:
        return check_table_name(value)
    is_column = field.name in cls.column_fields or any(field.name in cols for cols in cls.table_columns.values())
    if is_column and not isinstance(value, dict):
        return check_column_name(value)
    return value


def sql_table(name: str, *columns: str) -> sa.TableClause:
    """A lightweight SQLAlchemy table (``schema.name`` split) with the given columns."""
    schema, _, table = name.rpartition(".")
    unique = list(dict.fromkeys(columns))
    return sa.table(table, *(sa.column(c) for c in unique), schema=schema or None)


def quoted_table(name: str) -> str:
    """``name`` (``schema.name`` split) as PostgreSQL reads it, quoted where it must be: what
    ``to_regclass`` takes."""
    schema, _, table = name.rpartition(".")
    return _DIALECT.identifier_preparer.format_table(sa.table(table, schema=schema or None))


def compile_sql(statement: sa.sql.ClauseElement) -> str:
    """PostgreSQL SQL text for ``statement``, values inlined, escaped for GX's query pipeline.

    GX runs the query through ``str.format`` (to fill ``{batch}``) and then ``sa.text`` (which
    reads ``:name`` as a bind parameter), so braces are doubled and colons backslash-escaped;
    both come back unchanged in the statement the server receives.
    """
    return plain_sql(statement).replace("{", "{{").replace("}", "}}").replace(":", "\\:")


def plain_sql(statement: sa.sql.ClauseElement) -> str:
    """PostgreSQL SQL text for ``statement``, values inlined (for a driver, not for GX)."""
    return str(statement.compile(dialect=_DIALECT, compile_kwargs={"literal_binds": True}))


def qualified(table: str, column: str) -> str:
    """``table.column`` as the sentence shows it."""
    return f"{table}.{column}"


if TYPE_CHECKING:  # for the type checker, the mixin is an Expectation (so @override is checked)
    from great_expectations.expectations.expectation import Expectation as _MixinBase
else:
    _MixinBase = object


class SentenceRendering(_MixinBase):
    """What every custom expectation of ours shares (the Postgres cross-table ones here and the
    cache cross-store ones): every parameter written to the suite file (defaults too), and a
    Data Docs sentence built from the parameters by :meth:`_sentence`.

    Put it *before* the GX base class: its renderers and ``configuration`` must win in the MRO.

    It also holds the defaults of what the run asks a rule's class (module docstring): no table
    beyond ``table_columns``, no offending rows to key, no incremental scope, not row-level, not a
    volume/drift rule.
    """

    #: The rule's parameters, in the order the docs list them.
    parameter_fields: ClassVar[Tuple[str, ...]] = ()

    # ---- what the run asks the class (defaults) ------------------------------------------

    #: A volume/drift rule: its observed value is a metric recorded in ``dq.metrics``
    #: (:mod:`ytempire_dq.store.metrics`); it has no offending rows.
    history_band: ClassVar[bool] = False
    #: Its verdict on an append-mostly table's new rows alone is its verdict on them
    #: (``run.incremental.is_row_level``); ours judge a table, parents or a batch as a whole.
    row_level: ClassVar[bool] = False
    #: Its one query returns its count and its sample: the fast path runs it with the checkpoint's
    #: result format (``run.validation``), at no extra cost.
    samples_with_count: ClassVar[bool] = False

    @classmethod
    def table_references(cls, kwargs: Optional[dict]) -> List[Tuple[str, List[str]]]:
        """``[(table, [its columns])]`` that a rule of this type with ``kwargs`` names (from the
        class's ``table_columns``; defaults filled in, dict fields by their keys)."""
        kwargs = kwargs or {}
        refs = []
        for table_field, column_fields in (getattr(cls, "table_columns", None) or {}).items():
            table = kwargs.get(table_field)
            if not isinstance(table, str) or not table:
                continue
            columns: List[str] = []
            for name in column_fields:
                value = kwargs.get(name, cls.__fields__[name].default if name in cls.__fields__ else None)
                columns += list(value) if isinstance(value, dict) else ([value] if isinstance(value, str) else [])
            refs.append((table, columns))
        return refs

    def tables_read(self) -> List[str]:
        """The PostgreSQL tables this rule reads (its parameters name them; its batch aside)."""
        return list(dict.fromkeys(table for table, _ in self.table_references(self.configuration.kwargs)))

    def offending_keys_select(self, primary_key: Callable[[str], List[str]]) -> Optional[Tuple[sa.Subquery, str]]:
        """(subquery ``q`` of the rows the quarantine keys, their table) or None (default): no rows
        to key. ``primary_key(table)``: a table's primary key columns (looked up once per run)."""
        return None

    def offending_keys_from_result(
        self, conn: sa.Connection, result: dict, primary_key: Callable[[str], List[str]]
    ) -> Any:
        """The row keys (``store.row_keys.Keys``) of every offending row, read from the rule's own
        ``result`` (and ``conn``, the run's snapshot) when it lists them all, so the quarantine
        does not run its query again; None (default): the quarantine reads them."""
        return None

    def incremental_table(self) -> Optional[str]:
        """The table whose new rows an incremental run may judge this rule by (None, default: it
        always judges every row)."""
        return None

    def incremental_scope(self, column: str, since: Any) -> Any:
        """A copy of this rule (same id) judging only :meth:`incremental_table`'s rows with
        ``column > since``; None (default): it cannot be scoped and runs whole."""
        return None

    @property
    @override
    def configuration(self) -> Any:
        # GX writes kwargs with exclude_defaults, so a suite file saying referenced_column "id"
        # or tolerance 100 would lose them on the next save. Write every parameter out: the rule
        # reads complete in the file, and saving it again changes nothing.
        configuration = super().configuration
        for name in self.parameter_fields:
            value = getattr(self, name)
            if value is not None:
                configuration.kwargs.setdefault(name, value)
        return configuration

    # ---- rendering ---------------------------------------------------------------------

    @classmethod
    def _parameters(cls, kwargs: Optional[dict]) -> dict[str, Any]:
        """Every parameter, the configuration's value or the field default."""
        kwargs = kwargs or {}
        return {name: kwargs.get(name, cls.__fields__[name].default) for name in cls.parameter_fields}

    @classmethod
    @abstractmethod
    def _sentence(cls, params: dict[str, Any]) -> Tuple[str, dict[str, Any]]:
        """(template with ``$name`` placeholders, {name: value}) describing the rule."""

    @classmethod
    @override
    def _prescriptive_template(cls, renderer_configuration: RendererConfiguration) -> RendererConfiguration:
        template, values = cls._sentence(cls._parameters(renderer_configuration.kwargs))
        for name, value in values.items():
            param_type = (
                RendererValueType.NUMBER
                if isinstance(value, (int, float)) and not isinstance(value, bool)
                else RendererValueType.STRING
            )
            renderer_configuration.add_param(name=name, param_type=param_type, value=value)
        renderer_configuration.template_str = template
        return renderer_configuration

    @classmethod
    @override
    @renderer(renderer_type=LegacyRendererType.PRESCRIPTIVE)
    def _prescriptive_renderer(
        cls,
        configuration: Any = None,
        result: Any = None,
        runtime_configuration: Optional[dict] = None,
        **kwargs: Any,
    ) -> list[RenderedStringTemplateContent]:
        # Data Docs (suite and validation pages) use this legacy renderer, not the template.
        if configuration is None and result is not None:
            configuration = result.expectation_config
        runtime_configuration = runtime_configuration or {}
        template, values = cls._sentence(cls._parameters(configuration.kwargs if configuration else None))
        return [
            RenderedStringTemplateContent(
                content_block_type="string_template",
                string_template={
                    "template": template,
                    "params": values,
                    "styling": runtime_configuration.get("styling"),
                },
            )
        ]

    @classmethod
    @override
    @renderer(renderer_type=LegacyDiagnosticRendererType.UNEXPECTED_STATEMENT)
    def _diagnostic_unexpected_statement_renderer(
        cls,
        configuration: Any = None,
        result: Any = None,
        runtime_configuration: Optional[dict] = None,
    ) -> list:
        # GX's version assumes a column map result (unexpected_percent, element_count) as soon
        # as unexpected_count is present, and raises KeyError on ours; the count is all we have.
        result_dict = (result.result if result is not None else None) or {}
        if result is None or result.success or not result_dict.get("unexpected_count"):
            return super()._diagnostic_unexpected_statement_renderer(
                configuration=configuration,
                result=result,
                runtime_configuration=runtime_configuration,
            )
        count = result_dict["unexpected_count"]
        return [
            RenderedStringTemplateContent(
                content_block_type="string_template",
                string_template={
                    "template": "\n\n$unexpected_count unexpected " + ("row" if count == 1 else "rows") + " found.",
                    "params": {"unexpected_count": compat.num_to_str(count, use_locale=True, precision=20)},
                    "tag": "strong",
                    "styling": {"classes": ["text-danger"]},
                },
            )
        ]


class CrossTableExpectation(SentenceRendering, UnexpectedRowsExpectation):
    """Base of the generated-SQL expectations (abstract: not registered as an expectation type)."""

    unexpected_rows_query: Optional[str] = pydantic.Field(
        default=None,
        description=(
            "Generated from the other parameters each time the expectation runs; "
            "never stored and not accepted as input."
        ),
    )

    incremental_since: Optional[Dict[str, Any]] = pydantic.Field(
        default=None,
        description=(
            "Set by an incremental run only, never stored: {column: value} of the child table; only its rows "
            "with column > value are judged (or the parents having such rows)."
        ),
    )

    # One metric: the sample rows, each carrying the total count (see module docstring).
    metric_dependencies: ClassVar[Tuple[str, ...]] = (TABLE_METRIC,)
    #: The field naming the child table whose new rows an incremental run may scope the rule to
    #: (None: the rule always judges every row): :meth:`incremental_table`.
    child_table_field: ClassVar[Optional[str]] = None
    samples_with_count: ClassVar[bool] = True
    #: Fields a run sets, never a suite file (``ytdq suite types`` leaves them out).
    internal_fields: ClassVar[Tuple[str, ...]] = ("unexpected_rows_query", "incremental_since")

    #: {field holding a table name: (fields holding columns of that table)}: what lint checks
    #: against the database, what the run's pre-flight requires to exist, and what is quoted.
    table_columns: ClassVar[Dict[str, Tuple[str, ...]]] = {}
    #: Other fields holding a plain column name (e.g. a batch column of a cross-store rule).
    column_fields: ClassVar[Tuple[str, ...]] = ()

    @pydantic.validator("unexpected_rows_query", pre=True)
    def _query_is_generated(cls, value: Any) -> None:
        if value is not None:
            raise ValueError(f"{cls.__name__} generates its SQL from its parameters; do not pass unexpected_rows_query")
        return None

    _identifiers_are_plain_names = pydantic.validator("*", pre=True, allow_reuse=True)(check_identifier_field)

    @pydantic.validator("incremental_since")
    def _one_plain_column(cls, value: Optional[dict]) -> Optional[dict]:
        if value is not None and (len(value) != 1 or cls.child_table_field is None):
            raise ValueError(f"{cls.__name__}: incremental_since takes one {{column: value}} of its child table")
        return check_where_columns(cls, value)

    def child_scope(self, child: Any) -> list[sa.ColumnElement]:
        """The conditions on ``child`` (an alias of the child table) that keep only the rows an
        incremental run judges: ``[]`` outside one."""
        if not self.incremental_since:
            return []
        ((column, value),) = self.incremental_since.items()
        return [sa.literal_column(f"{child.name}.{_DIALECT.identifier_preparer.quote(column)}") > sa.literal(value)]

    # ---- what the run asks the class ----------------------------------------------------

    @override
    def incremental_table(self) -> Optional[str]:
        return getattr(self, self.child_table_field) if self.child_table_field else None

    @override
    def incremental_scope(self, column: str, since: Any) -> Any:
        """The copy's ``incremental_since`` is ``{column: since}`` (used by :meth:`child_scope`)."""
        if self.child_table_field is None:
            return None
        cfg = copy.deepcopy(self.configuration)
        cfg.kwargs["incremental_since"] = {column: since}
        return cfg.to_domain_obj()

    @override
    def offending_keys_select(self, primary_key: Callable[[str], List[str]]) -> Optional[Tuple[sa.Subquery, str]]:
        """One row per offending row (or parent: aggregates key on the parent row), its key first."""
        return self.offending_rows().subquery("q"), self.table

    @override
    def offending_keys_from_result(
        self, conn: sa.Connection, result: dict, primary_key: Callable[[str], List[str]]
    ) -> Any:
        """When the sample is every offending row: one row each, holding :attr:`table`'s primary key."""
        from ytempire_dq.store.row_keys import pk_row_keys

        rows, total = self.listed_rows(result)
        if rows is None:
            return None
        return pk_row_keys(rows, total, primary_key(self.table), self.table)

    @staticmethod
    def listed_rows(result: dict) -> Tuple[Optional[List[dict]], Optional[int]]:
        """(the result's sample rows, the offending count) when the result lists rows of a failed
        rule; (None, None) otherwise."""
        rows = (result.get("details") or {}).get("unexpected_rows")
        total = result.get("unexpected_count")
        if not isinstance(rows, list) or not isinstance(total, int) or not total or not rows:
            return None, None
        if not all(isinstance(r, dict) for r in rows):
            return None, None
        return rows, total

    # ---- SQL ---------------------------------------------------------------------------

    @abstractmethod
    def offending_rows(self) -> sa.Select:
        """A SELECT of the offending rows; its first column is the key shown in the sample."""

    def total_count(self, offending: sa.Subquery) -> sa.ColumnElement:
        """The number of offending rows, as a window over ``offending`` (default: its rows)."""
        return sa.func.count().over()

    def build_query(self) -> str:
        """The one statement that runs: up to SAMPLE_SIZE offending rows plus the total count."""
        return compile_sql(self.sample_statement(self.offending_rows()))

    def sample_statement(self, offending_rows: sa.Select) -> sa.Select:
        """Up to SAMPLE_SIZE of ``offending_rows`` (smallest key first), each with the total count."""
        # OFFSET 0 fences the subquery: PostgreSQL plans the offending rows for the whole result
        # (hash joins, parallel scans) instead of an index-ordered merge join chosen for the outer
        # ORDER BY ... LIMIT (videos.view_count_matches_analytics at 10M analytics rows: 10.3 s -> 2.8 s)
        offending = offending_rows.offset(0).subquery("offending")
        key = list(offending.c)[0]
        return sa.select(*offending.c, self.total_count(offending).label(COUNT_COLUMN)).order_by(key).limit(SAMPLE_SIZE)

    def shared_read(self) -> Optional[tuple]:
        """What this rule reads that other rules (of any type) with the same value read the same
        way, so that one statement serves them all (:meth:`shared_statement`); None (default): its
        own. The one kind so far: ``(parent table, parent key, child table, child key)``, the child
        table grouped by its key, for a rule that declares :meth:`per_parent_values` and takes them
        in ``offending_rows(per_parent)``."""
        return None

    def per_parent_values(self) -> Dict[str, Tuple[str, Optional[str]]]:
        """``{label: (aggregate, child column or None for count(*))}``: what :meth:`offending_rows`
        reads from ``per_parent`` (beside ``parent_key``) when its :meth:`shared_read` is shared."""
        raise NotImplementedError(type(self).__name__)

    @classmethod
    def shared_statement(cls, rules: list) -> Tuple[sa.Select, List[List[str]]]:
        """One statement whose rows are each of ``rules``' own query's rows (same ``shared_read``):
        ``(statement, [each rule's column names])``. The child table is grouped by its key once
        (``per_parent``: every aggregate any rule asks for, each once), and each rule's own sample
        statement runs over its columns of it. A row's ``dq_rule`` says whose it is, its values are
        in ``dq_<rule>_<column>`` (NULL in the other rules' columns), in each rule's order."""
        _, _, child_table, child_key = rules[0].shared_read()
        labels: Dict[Tuple[str, Optional[str]], str] = {}
        for rule in rules:
            for value in rule.per_parent_values().values():
                labels.setdefault(value, f"child_value_{len(labels)}")
        child_columns = dict.fromkeys(column for _, column in labels if column)
        child = sql_table(child_table, child_key, *child_columns).alias("child")
        aggregates = [
            (getattr(sa.func, aggregate)(child.c[column]) if column else sa.func.count()).label(label)
            for (aggregate, column), label in labels.items()
        ]
        key = child.c[child_key]
        grouped = sa.select(key.label("parent_key"), *aggregates).group_by(key).cte("per_parent")
        samples = []
        for i, rule in enumerate(rules):
            wanted = [grouped.c[labels[value]].label(name) for name, value in rule.per_parent_values().items()]
            per_parent = sa.select(grouped.c.parent_key, *wanted).subquery(f"per_parent_{i}")
            samples.append(rule.sample_statement(rule.offending_rows(per_parent)))
        return cls.tagged_union(samples)

    @staticmethod
    def tagged_union(samples: list) -> Tuple[sa.Select, List[List[str]]]:
        """The :meth:`shared_statement` of the rules whose sample statements are ``samples``. Each
        rule's rows are joined ``ON false`` to the other rules' (CTEs, never read there), so their
        columns are NULL of their own types: PostgreSQL resolves a UNION's column types branch by
        branch, and two untyped NULLs would become text, which a uuid column then cannot match."""
        shared = [sample.cte(f"rule_{i}") for i, sample in enumerate(samples)]
        names = [list(rule.c.keys()) for rule in shared]
        branches = []
        for i, mine in enumerate(shared):
            rows = mine
            for other in shared[:i] + shared[i + 1 :]:
                rows = rows.outerjoin(other, sa.false())
            columns = [sa.literal(i).label("dq_rule")]
            for j, rule in enumerate(shared):
                columns += [rule.c[n].label(f"dq_{j}_{k}") for k, n in enumerate(names[j])]
            branches.append(sa.select(*columns).select_from(rows))
        union = sa.union_all(*branches).subquery("shared")
        keys = [union.c[f"dq_{j}_0"] for j in range(len(samples))]
        return sa.select(*union.c).order_by(union.c.dq_rule, *keys), names

    @override
    def _get_success_kwargs(self) -> dict[str, Any]:
        # GX reads the metric's value kwargs (here: the query) from the success kwargs; the
        # query is not a stored field, so it is supplied here.
        kwargs = super()._get_success_kwargs()
        kwargs["unexpected_rows_query"] = self.query_once()
        return kwargs

    def query_once(self) -> str:
        """:meth:`build_query`, built once per run for the same rule: GX asks for the query with
        every metric, each time on a new copy of the rule (174 builds for 36 rules in a nightly).
        Keyed by every field's value (``incremental_since`` too), so two rules share a query only
        when nothing that could build it differs; freshly built outside a run."""
        store = run_store.running()
        if store is None:
            return self.build_query()
        fields = repr(sorted(self.__dict__.items(), key=lambda item: item[0]))
        return store.remembered(("rule query", type(self).__qualname__, fields), self.build_query)

    # ---- result ------------------------------------------------------------------------

    @override
    def _validate(
        self,
        metrics: dict,
        runtime_configuration: dict | None = None,
        execution_engine: Any = None,
    ) -> dict:
        result_format = compat.result_format_of(self, runtime_configuration)
        if isinstance(result_format, dict):
            result_format = result_format.get("result_format", ResultFormat.SUMMARY)

        rows = metrics[TABLE_METRIC] or []
        unexpected_count = int(rows[0][COUNT_COLUMN]) if rows else 0
        success = unexpected_count == 0
        if result_format == ResultFormat.BOOLEAN_ONLY:
            return {"success": success}

        sample = [{name: jsonable(value) for name, value in row.items() if name != COUNT_COLUMN} for row in rows]
        result: dict[str, Any] = {
            "observed_value": unexpected_count,
            "unexpected_count": unexpected_count,
            "partial_unexpected_list": [next(iter(row.values())) for row in sample],
        }
        if result_format != ResultFormat.BASIC:
            result["details"] = {"unexpected_rows": sample, "sample_size": SAMPLE_SIZE}
        return {"success": success, "result": result}


def number_text(value: Union[int, float]) -> str:
    """100 -> '100', 0.5 -> '0.5', 100.0 -> '100'."""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def check_number(value: Any, name: str, *, minimum: float = 0) -> Union[int, float]:
    """A finite int/float >= minimum (bool refused), else ``ValueError``."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ValueError(f"{name} must be a number, got {value!r}")
    if isinstance(value, float) and not math.isfinite(value):
        raise ValueError(f"{name} must be finite, got {value!r}")
    if value < minimum:
        raise ValueError(f"{name} must be >= {minimum}, got {value!r}")
    return value
