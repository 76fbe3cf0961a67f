"""Where the project's files are: the GX context directory, its stores' folders, its data assets.

Read from ``great_expectations.yml`` without importing GX (fast), so the CLI and the run's
pre-flight can name files before GX loads anything."""

from __future__ import annotations

import copy
import functools
from pathlib import Path
from typing import Any

from ytempire_dq import config
from ytempire_dq.errors import YtdqError

#: The yml key naming each store (the store names themselves are ours: see great_expectations.yml).
STORE_NAME_KEYS = {
    "suites": "expectations_store_name",
    "checkpoints": "checkpoint_store_name",
    "validation_definitions": "validation_definition_store_name",
}
DEFAULT_STORE_NAMES = {
    "suites": "expectations_store",
    "checkpoints": "checkpoint_store",
    "validation_definitions": "validation_definition_store",
}


def config_dir_of(config_dir: Path | str | None) -> Path:
    """The GX context directory: ``config_dir`` resolved, or the project's ``gx/``."""
    return Path(config_dir).resolve() if config_dir is not None else config.PROJECT_ROOT / "gx"


def _read_yml(config_dir: Path) -> dict:
    path = config_dir / "great_expectations.yml"
    try:
        stat = path.stat()
    except FileNotFoundError:
        raise YtdqError(f"no GX configuration at {path}") from None
    return copy.deepcopy(_parsed_yml(path, (stat.st_mtime_ns, stat.st_size)))


@functools.lru_cache(maxsize=16)
def _parsed_yml(path: Path, stamp: tuple[int, int]) -> dict:
    """``path`` parsed, once per (mtime, size) ``stamp`` (a pure function of the file as it is at
    that stamp): a run asks for a store's folder dozens of times and ruamel parses the ~200-line
    file in pure Python each time. Callers get a copy (:func:`_read_yml`)."""
    from ruamel.yaml import YAML, YAMLError  # GX's own YAML library

    try:
        return YAML(typ="safe").load(path.read_text()) or {}
    except FileNotFoundError:
        raise YtdqError(f"no GX configuration at {path}") from None
    except (YAMLError, ValueError) as exc:  # ValueError: not UTF-8
        raise YtdqError(f"{path}: not valid YAML: {exc}") from None


def store_dir(kind: str, config_dir: Path | str | None = None) -> Path:
    """The directory of a store (``suites``, ``checkpoints``, ``validation_definitions``)."""
    cdir = config_dir_of(config_dir)
    yml = _read_yml(cdir)
    name = yml.get(STORE_NAME_KEYS[kind]) or DEFAULT_STORE_NAMES[kind]
    base = (((yml.get("stores") or {}).get(name) or {}).get("store_backend") or {}).get("base_directory")
    if not base:
        raise YtdqError(f"{cdir / 'great_expectations.yml'}: no base_directory for {name}")
    return (cdir / base).resolve()


def qualified_table(name: str, schema: Any = None) -> str:
    """``schema.name``, or ``name`` when ``schema`` is not a non-empty string (GX's ``Missing``
    sentinel, None, "")."""
    return f"{schema}.{name}" if isinstance(schema, str) and schema else name


def definition_table_parts(vd: Any) -> tuple[str | None, str | None]:
    """``(schema, table)`` of a validation definition's asset (either None when not set); ``(None,
    None)`` when the asset is no SQL table (the cache's dataframe)."""
    data = getattr(vd, "data", None)
    asset = data.data_asset if hasattr(data, "data_asset") else getattr(vd, "asset", None)
    name, schema = getattr(asset, "table_name", None), getattr(asset, "schema_name", None)
    if not isinstance(name, str):
        return None, None
    return (schema if isinstance(schema, str) and schema else None), name


def definition_table(vd: Any) -> str | None:
    """``[schema.]table`` of a validation definition's asset; None when it is no SQL table (the
    cache). The one answer to "which table does this definition read" (history, quarantine,
    incremental plan, fast path, pre-flight)."""
    schema, name = definition_table_parts(vd)
    return qualified_table(name, schema) if name else None


def asset_tables(config_dir: Path | str | None = None) -> dict[str, str | None]:
    """{asset name: ``[schema.]table``} of the data sources in the yml (what
    :func:`definition_table` answers once GX loaded them); ``None`` for an asset that is no table
    (the ``cache`` data source's dataframe: its columns are not the database's)."""
    fluent = _read_yml(config_dir_of(config_dir)).get("fluent_datasources") or {}
    out = {}
    for ds in fluent.values():
        for name, asset in (ds.get("assets") or {}).items():
            table = asset.get("table_name") or (name if asset.get("type") in (None, "table") else None)
            out[name] = qualified_table(table, asset.get("schema_name")) if table else None
    return out


def suite_path(name: str, config_dir: Path | str | None = None) -> Path:
    return store_dir("suites", config_dir) / f"{name}.json"


def list_suites(config_dir: Path | str | None = None) -> list[str]:
    """Suite names (file stems in the expectations store), sorted."""
    return sorted(p.stem for p in store_dir("suites", config_dir).glob("*.json"))


def project_relative(path: Path) -> str:
    """``path`` relative to the project (as errors and lint show it), or as it is when outside."""
    try:
        return str(path.relative_to(config.PROJECT_ROOT))
    except ValueError:
        return str(path)


def list_checkpoints(config_dir: Path | str | None = None) -> list[str]:
    """Names of the checkpoints (file stems in the checkpoint store; no GX import needed)."""
    return sorted(p.stem for p in store_dir("checkpoints", config_dir).glob("*.json"))


#: What a copy of the GX project needs: the context's config and its three stores' folders.
PROJECT_PARTS = (
    "gx/great_expectations.yml",
    "gx/incremental.yml",
    "gx/notifications.json",
    "expectations",
    "checkpoints",
    "validation_definitions",
)


def copy_project(dest: Path) -> Path:
    """A copy of the project's GX configuration under ``dest`` (its runs' results and Data Docs
    then go there, not into the project's); returns its ``gx/`` directory."""
    import shutil

    for part in PROJECT_PARTS:
        src, target = config.PROJECT_ROOT / part, dest / part
        target.parent.mkdir(parents=True, exist_ok=True)
        (shutil.copytree if src.is_dir() else shutil.copy2)(src, target)
    return dest / "gx"
