"""What a Data Docs build need not do twice: compile GX's Jinja templates (once per process), and
render a suite page whose suite and renderers have not changed (a fingerprint per suite page, in
``<site>.suite_pages.json`` beside the site). Used by :mod:`ytempire_dq.docs.site`."""

from __future__ import annotations

import functools
import hashlib
import json
import os
from pathlib import Path

import jinja2


class CompiledTemplates(jinja2.BytecodeCache):
    """Jinja's compiled templates, kept in memory for the process (keyed by template and source
    checksum, so a changed template is compiled again)."""

    def __init__(self) -> None:
        self._code: dict[str, bytes] = {}

    def load_bytecode(self, bucket: jinja2.bccache.Bucket) -> None:
        code = self._code.get(bucket.key)
        if code is not None:
            bucket.bytecode_from_string(code)

    def dump_bytecode(self, bucket: jinja2.bccache.Bucket) -> None:
        self._code[bucket.key] = bucket.bytecode_to_string()


COMPILED_TEMPLATES = CompiledTemplates()


def suite_pages_path(site: Path) -> Path:
    """The fingerprint of each suite page of the site at ``site`` (outside it)."""
    return site.parent / f"{site.name}.suite_pages.json"


@functools.cache
def _renderers_fingerprint() -> str:
    """What a suite page depends on besides the suite: GX's version, our renderers and templates
    (read once per process: they do not change under a running build)."""
    from importlib.metadata import version

    here = Path(__file__).resolve().parent
    digest = hashlib.sha256(version("great_expectations").encode())
    for path in sorted([here / "renderers.py", here / "verdict.py", *here.glob("templates/**/*")]):
        if path.is_file():
            digest.update(path.name.encode() + path.read_bytes())
    return digest.hexdigest()


def suite_fingerprint(suite: dict) -> str:
    """A suite page's fingerprint: the suite as stored (its file's JSON, key order aside), and the renderers."""
    text = json.dumps(suite, sort_keys=True, default=str) + _renderers_fingerprint()
    return hashlib.sha256(text.encode()).hexdigest()


def read_json(path: Path) -> dict:
    try:
        value = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    return value if isinstance(value, dict) else {}


def write_json(path: Path, value: dict) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(value, sort_keys=True))
    os.replace(tmp, path)
