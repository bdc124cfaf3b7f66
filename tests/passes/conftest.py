"""Collect every tests/passes/**/*.lt file as a test that runs its RUN lines (lt_filecheck.py)."""
from __future__ import annotations

import os
import sys

import pytest

sys.path.insert(0, os.path.dirname(__file__))
from lt_filecheck import LtFailure, check_file  # noqa: E402


def pytest_collect_file(file_path, parent):
    """A `.lt` file is one test."""
    if file_path.suffix == ".lt":
        return LtFile.from_parent(parent, path=file_path)
    return None


class LtFile(pytest.File):
    """A FileCheck test file: one item named after the file."""

    def collect(self):
        yield LtItem.from_parent(self, name=self.path.stem)


class LtItem(pytest.Item):
    """Runs the file's RUN lines; a failing check is reported without a Python traceback."""

    def runtest(self):
        check_file(self.path)

    def repr_failure(self, excinfo):
        if isinstance(excinfo.value, LtFailure):
            return str(excinfo.value)
        return super().repr_failure(excinfo)

    def reportinfo(self):
        return self.path, 0, f"lt: {self.path.name}"
