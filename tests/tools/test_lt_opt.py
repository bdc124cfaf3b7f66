"""lt-opt as a command: stdin, files, errors without tracebacks, -o (see also tests/passes/lt-opt)."""
from __future__ import annotations

import subprocess
import sys

GRAPH = "%0 = BUFFER #0 : f32[4]\n%1 = NEG %0 : f32[4]\n%2 = NEG %1 : f32[4]\nreturn %2\n"


def lt_opt(*args, stdin=None):
    return subprocess.run([sys.executable, "-m", "lazytensor.tools.lt_opt", *args], input=stdin,
                          capture_output=True, text=True)


def test_stdin_and_passes():
    r = lt_opt("-p", "simplify", stdin=GRAPH)
    assert r.returncode == 0 and r.stdout == "%0 = BUFFER #0 : f32[4]\nreturn %0\n"


def test_output_reparses(tmp_path):
    out = tmp_path / "o.lt"
    r = lt_opt("-p", "autodiff,simplify", "-o", str(out), stdin=GRAPH)
    assert r.returncode == 0
    again = lt_opt(str(out))
    assert again.returncode == 0 and again.stdout == out.read_text()


def test_malformed_ir_diagnostic_no_traceback(tmp_path):
    f = tmp_path / "bad.lt"
    f.write_text("%0 = BUFFER #0 : f32[4]\n%1 = ADD %0 : f32[4]\nreturn %1\n")
    r = lt_opt(str(f), "-p", "fuse")
    assert r.returncode == 1
    assert r.stderr.startswith(f"{f}:2:6: error: ADD takes 2 operands, got 1\n"
                               "%1 = ADD %0 : f32[4]\n     ^")
    assert "Traceback" not in r.stderr


def test_missing_file_and_unknown_pass():
    r = lt_opt("/nonexistent.lt")
    assert r.returncode == 1 and "lt-opt: error:" in r.stderr and "Traceback" not in r.stderr
    r = lt_opt("-p", "sched", stdin=GRAPH)
    assert r.returncode == 1 and "unknown pass 'sched'" in r.stderr


def test_pass_order_error():
    r = lt_opt("-p", "schedule", stdin=GRAPH)
    assert r.returncode == 1 and "pass 'schedule' failed: schedule needs kernels" in r.stderr

