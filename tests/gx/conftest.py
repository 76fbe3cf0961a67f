"""Fixtures for the GX project tests: the committed context pointed at this module's database."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.helpers import copy_project


@pytest.fixture
def project_copy(tmp_path) -> Path:
    return copy_project(tmp_path)
