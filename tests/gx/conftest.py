"""Fixtures for the GX project tests: the committed context pointed at this module's database."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.helpers import copy_project
from ytempire_dq.db.connect import connect


@pytest.fixture
def project_copy(tmp_path) -> Path:
    return copy_project(tmp_path)


@pytest.fixture(scope="module")
def conn(module_env):
    """An autocommit connection to this module's database (``DATABASE_URL``)."""
    c = connect(module_env, autocommit=True)
    yield c
    c.close()
