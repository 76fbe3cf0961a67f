"""JUnit XML of a checkpoint run (``checkpoint run NAME --junit FILE``): the report format every CI
system renders (Jenkins, GitLab and Azure natively, GitHub through a JUnit reporting action).

One ``<testsuite>`` per validation (a suite against its asset), one ``<testcase>`` per rule
(``classname`` = suite, ``name`` = rule_id); a rule that found bad rows is a ``<failure>`` (count,
sentence, sample values), a rule that could not be evaluated an ``<error>`` (cause and fix). A run
that could not happen at all (exit 2 before any rule ran) is one ``<error>`` test case, so the CI
still shows why. Built from the :class:`~ytempire_dq.run.report.RunReport`, the same source as ``--json``.

Data values are hostile: markup, quotes and ``]]>`` are escaped by the XML writer; characters XML
1.0 cannot hold (control characters, lone surrogates) are written as ``\\xNN``; every text is
bounded (as in ``--json``), so a megabyte value stays a few hundred bytes.
"""

from __future__ import annotations

import datetime as dt
import json
import re
import socket
from pathlib import Path

from junitparser import Error, Failure, JUnitXml, TestCase, TestSuite

from ytempire_dq.config import mask_secrets
from ytempire_dq.run.report import (
    ERROR_CHARS,
    VALUE_CHARS,
    RuleResult,
    RunReport,
    bounded,
    bounded_text,
    error_cause,
    jsonable,
)
from ytempire_dq.values import plural

#: Characters XML 1.0 cannot hold in any form (not even as a character reference).
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")
#: Sample values written into a failure's body (the terminal table shows SAMPLE_VALUES).
JUNIT_SAMPLES = 20


def xml_text(text: object, limit: int = ERROR_CHARS) -> str:
    """``text`` bounded, secrets masked, and holdable by XML 1.0 (``\\x01`` for U+0001)."""
    text = mask_secrets(bounded_text(str(text), limit))
    return _NOT_XML.sub(
        lambda m: f"\\x{ord(m.group()):02x}" if ord(m.group()) < 0x100 else f"\\u{ord(m.group()):04x}", text
    )


def _one_line(text: str) -> str:
    """Attribute values: parsers fold newlines to spaces anyway; say it plainly."""
    return " ".join(text.split())


def _seconds(value: float | None) -> float | None:
    return None if value is None else round(max(value, 0.0), 3)


def _value(value: object) -> str:
    """A data value as JSON (control characters as ``\\u00NN``), bounded first so that ``…(N chars)``
    counts the value as in ``--json``; the report's values are bounded already and kept as they are."""
    return xml_text(json.dumps(jsonable(bounded(value, VALUE_CHARS + 32)), default=str, ensure_ascii=False))


def rule_case(rule: RuleResult, suite: str) -> TestCase:
    """One rule as a test case: passed, a failure (bad rows), or an error (could not run)."""
    name = rule.rule_id or f"? ({rule.expectation_type})"
    case = TestCase(xml_text(name, VALUE_CHARS), xml_text(suite, VALUE_CHARS))
    sentence = rule.sentence or rule.description or rule.expectation_type
    if rule.error is not None:
        cause = error_cause(rule.error)
        body = f"rule: {sentence}\nerror: {rule.error}"
        case.result = [Error(_one_line(xml_text(f"could not run: {cause}", VALUE_CHARS * 2)), "RuleError")]
        case.result[0].text = xml_text(body)
    elif not rule.success:
        bad = "" if rule.unexpected_count is None else f"{plural(rule.unexpected_count, 'bad row', fmt=',')}: "
        lines = [f"rule: {sentence}"]
        if rule.description and rule.description != sentence:
            lines.append(f"description: {rule.description}")
        if rule.unexpected_count is not None:
            lines.append(f"bad rows: {rule.unexpected_count}")
        if rule.observed_value is not None and rule.observed_value != rule.unexpected_count:
            lines.append(f"observed value: {_value(rule.observed_value)}")
        samples = rule.partial_unexpected_list[:JUNIT_SAMPLES]
        if samples:
            lines.append(f"sample values ({len(samples)} of {len(rule.partial_unexpected_list)} kept):")
            lines += [f"  {_value(v)}" for v in samples]
        message = bad + sentence
        case.result = [Failure(_one_line(xml_text(message, VALUE_CHARS * 2)), "DataFailure")]
        case.result[0].text = "\n".join(xml_text(line, ERROR_CHARS) for line in lines)
    return case


def _suite(name: str, properties: dict[str, str | None]) -> TestSuite:
    suite = TestSuite(xml_text(name, VALUE_CHARS))
    suite.timestamp = dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")
    suite.hostname = xml_text(socket.gethostname(), VALUE_CHARS)
    for key, value in properties.items():
        if value is not None:
            suite.add_property(key, _one_line(xml_text(value)))
    return suite


def from_report(report: RunReport) -> JUnitXml:
    """The run as JUnit XML: a test suite per validation, a test case per rule. The run's own
    facts (checkpoint, run id, Data Docs, warnings of its actions) are each suite's properties."""
    xml = JUnitXml(xml_text(f"checkpoint {report.checkpoint}", VALUE_CHARS))
    run = {"checkpoint": report.checkpoint, "run_id": report.run_id, "data_docs": report.data_docs}
    run |= {f"warning_{n}": problem for n, problem in enumerate(report.action_errors, 1)}
    for validation in report.validations:
        suite = _suite(validation.suite, {**run, "asset": validation.asset})
        for rule in validation.results:
            suite.add_testcase(rule_case(rule, validation.suite))
        seconds = _seconds(validation.seconds)
        if seconds is not None:
            suite.time = seconds
        xml.add_testsuite(suite)
    if report.history_error:  # exit 2 with every rule judged: the CI page says why
        xml.add_testsuite(_history_suite(report.history_error, run))
    return _finish(xml, report.seconds)


def _history_suite(message: str, properties: dict) -> TestSuite:
    """A run whose history could not be written: one ``history`` test case in error."""
    suite = _suite("history", properties)
    case = TestCase("history", "history")
    error = Error(_one_line(xml_text(message, VALUE_CHARS * 2)), "HistoryError")
    error.text = xml_text(message)
    case.result = [error]
    suite.add_testcase(case)
    return suite


def _finish(xml: JUnitXml, seconds: float | None) -> JUnitXml:
    """Totals on ``<testsuites>``: only the attributes Jenkins' junit-10.xsd knows (JUnitXml's own
    ``update_statistics`` adds ``skipped``, which it does not)."""
    suites = list(xml)
    xml.tests = sum(suite.tests or 0 for suite in suites)
    xml.failures = sum(suite.failures or 0 for suite in suites)
    xml.errors = sum(suite.errors or 0 for suite in suites)
    if seconds:
        xml.time = _seconds(seconds)
    return xml


def from_run_error(checkpoint: str, message: str) -> JUnitXml:
    """A run that could not happen (exit 2 before any rule ran): one test case in error, so the
    CI page says why instead of showing no tests."""
    xml = JUnitXml(xml_text(f"checkpoint {checkpoint}", VALUE_CHARS))
    suite = _suite(checkpoint, {"checkpoint": checkpoint})
    case = TestCase("run", xml_text(checkpoint, VALUE_CHARS))
    error = Error(_one_line(xml_text(f"the run could not happen: {message}", VALUE_CHARS * 2)), "RunError")
    error.text = xml_text(message)
    case.result = [error]
    suite.add_testcase(case)
    xml.add_testsuite(suite)
    return _finish(xml, None)


def write(xml: JUnitXml, path: Path) -> None:
    """Write ``xml`` to ``path`` (parents made), UTF-8 with an XML declaration."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    xml.write(str(path))
