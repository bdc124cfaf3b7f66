"""Tests of the .lt FileCheck harness itself (tests/passes/lt_filecheck.py and its conftest)."""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

PASSES = Path(__file__).resolve().parents[1] / "passes"
sys.path.insert(0, str(PASSES))
from lt_filecheck import LtFailure, check_file, run_lines, substitute  # noqa: E402

GRAPH = """%0 = BUFFER #0 : f32[4]
%1 = EXP2 %0 : f32[4]
%2 = NEG %1 : f32[4]
return %2
"""


def test_run_lines_and_substitution(tmp_path):
    f = tmp_path / "lt-opt-case.lt"
    f.write_text("// RUN: not lt-opt %s -p fuse \\\n// RUN:   2>&1 | filecheck %s\n" + GRAPH)
    (cmd,) = run_lines(f)
    assert " ".join(cmd.split()) == "not lt-opt %s -p fuse 2>&1 | filecheck %s"
    s = substitute(cmd, f)
    assert "-m lazytensor.tools.lt_opt" in s and "-m filecheck" in s and "lt_not.py" in s
    assert str(f) in s  # the path is kept whole although it holds a tool's name


def test_passing_file(tmp_path):
    f = tmp_path / "ok.lt"
    f.write_text("// RUN: lt-opt %s -p simplify | filecheck %s\n" + GRAPH +
                 "// CHECK: %1 = EXP2 %0\n// CHECK-NEXT: %2 = NEG %1\n")
    assert check_file(f) == 1


def test_wrong_check_reports_expected_output_and_where_they_part(tmp_path):
    f = tmp_path / "bad.lt"
    f.write_text("// RUN: lt-opt %s -p simplify | filecheck %s\n" + GRAPH +
                 "// CHECK: %1 = EXP2 %0\n// CHECK-NEXT: %2 = SIN %1\n")
    with pytest.raises(LtFailure) as e:
        check_file(f)
    msg = str(e.value)
    assert "expected (bad.lt:7): // CHECK-NEXT: %2 = SIN %1" in msg
    assert "where they part: output line 3: %2 = NEG %1 : f32[4]" in msg
    assert "--- output of `lt-opt %s -p simplify` ---" in msg
    assert "3 | %2 = NEG %1 : f32[4]  <-- matching stopped here" in msg
    assert "1 | %0 = BUFFER #0 : f32[4]" in msg  # the whole output is shown


def test_failing_producer_is_reported(tmp_path):
    f = tmp_path / "crash.lt"
    f.write_text("// RUN: lt-opt %s | filecheck %s\n%0 = BOGUS : f32[1]\nreturn %0\n// CHECK: x\n")
    with pytest.raises(LtFailure, match=r"failed with exit status 1 \(prefix it with `not`"):
        check_file(f)


def test_no_run_line(tmp_path):
    f = tmp_path / "none.lt"
    f.write_text(GRAPH)
    with pytest.raises(LtFailure, match="no '// RUN:' line"):
        check_file(f)


def test_pytest_collects_lt_files_and_shows_the_report(tmp_path):
    for name in ("conftest.py", "lt_filecheck.py", "lt_not.py"):
        shutil.copy(PASSES / name, tmp_path / name)
    (tmp_path / "good.lt").write_text("// RUN: lt-opt %s | filecheck %s\n" + GRAPH +
                                      "// CHECK: NEG\n")
    (tmp_path / "wrong.lt").write_text("// RUN: lt-opt %s | filecheck %s\n" + GRAPH +
                                       "// CHECK: COS\n")
    proc = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                           str(tmp_path)], capture_output=True, text=True, cwd=tmp_path,
                          env={**os.environ, "PYTHONDONTWRITEBYTECODE": "1"})
    assert "1 failed, 1 passed" in proc.stdout, proc.stdout
    assert "wrong.lt:6: error: Couldn't match \"COS\"" in proc.stdout
    assert "expected (wrong.lt:6): // CHECK: COS" in proc.stdout
    assert "Traceback" not in proc.stdout
