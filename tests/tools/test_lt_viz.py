"""lt-viz and lt.viz: HTML, dot and SVG output, script recording, LT_VIZ traces."""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys

import numpy as np
import pytest

import lazytensor as lt
from lazytensor import lazy, visualize

GRAPH = ("%0 = BUFFER #0 : f32[12]\n%1 = RESHAPE %0 (3, 4) : f32[3,4]\n"
         "%2 = MAX_REDUCE %1 (1,) : f32[3,1]\n%3 = EXPAND %2 (3, 4) : f32[3,4]\n"
         "%4 = NEG %3 : f32[3,4]\n%5 = ADD %1, %4 : f32[3,4]\n%6 = EXP2 %5 : f32[3,4]\n"
         "%7 = SUM %6 (1,) : f32[3,1]\nreturn %7\n")
SCRIPT = ("import lazytensor as lt\nx = lt.ones(4, 3)\nfor _ in range(3):\n"
          "    print((x * 2).exp().sum(0))\n")


def lt_viz(*args, cwd=None, env=None):
    return subprocess.run([sys.executable, "-m", "lazytensor.tools.lt_viz", *args], cwd=cwd,
                          capture_output=True, text=True, env=env)


def _x():
    return lt.tensor(np.arange(12.0).reshape(3, 4), dtype=lt.float32)


def test_lt_viz_tensor_html_is_self_contained(tmp_path):
    x = _x()
    y = (x - x.max(1, keepdim=True).values).exp().sum(1, keepdim=True)
    trace = lt.viz(y, str(tmp_path / "g.html"))
    html = (tmp_path / "g.html").read_text()
    assert "<script" in html and "http://" not in html.replace("http://www.w3.org/2000/svg", "")
    assert "https://" not in html and "src=" not in html  # no network, nothing external
    stages = trace["flushes"][0]["stages"]
    assert [s["name"] for s in stages] == ["input", "after simplify", "after fuse", "after schedule"]
    last = stages[-1]
    assert len(last["clusters"]) == 2 and all(c["real"] for c in last["clusters"])
    # the kernel's LLVM IR (its IR text, with the reason, where the renderer cannot render it)
    src = last["clusters"][0]["source"]
    assert "define void @k_" in src or src.startswith("; LLVM IR unavailable")
    assert any(n["loc"].startswith(__file__) for n in last["nodes"])  # the user's line
    assert not stages[0]["clusters"][0]["real"]  # before fuse: the kernels it would make


def test_lt_viz_function_records_flushes_and_dot(tmp_path):
    def step():
        x = _x()
        print((x * 2).sum())
        return x.exp()
    trace = lt.viz(step, str(tmp_path / "g.dot"))
    assert len(trace["flushes"]) == 2  # one flush, then the pending result
    dot = (tmp_path / "g.dot").read_text()
    assert dot.startswith("digraph lazytensor {") and "subgraph cluster_0" in dot
    assert lazy.on_flush == []  # the recorder is gone


def test_cli_text_ir_and_formats(tmp_path):
    (tmp_path / "g.lt").write_text("// a comment line\n" + GRAPH)
    r = lt_viz("g.lt", cwd=tmp_path)
    assert r.returncode == 0 and (tmp_path / "g.html").exists()
    r = lt_viz("g.lt", "--format", "dot", cwd=tmp_path)
    assert r.stdout.count("subgraph cluster_") == 2
    r = lt_viz("g.lt", "--format", "svg", cwd=tmp_path)
    if shutil.which("dot"):
        assert r.returncode == 0 and "<svg" in r.stdout
    else:
        assert r.returncode == 1 and "Graphviz" in r.stderr


def test_cli_bad_ir_diagnostic(tmp_path):
    (tmp_path / "bad.lt").write_text("%0 = BUFFER #0 : f32[4]\nreturn %9\n")
    r = lt_viz("bad.lt", cwd=tmp_path)
    assert r.returncode == 1 and "bad.lt:2:8: error: use of undefined value %9" in r.stderr
    assert "Traceback" not in r.stderr


def test_cli_script_and_lt_viz_env_trace(tmp_path):
    (tmp_path / "s.py").write_text(SCRIPT)
    r = lt_viz("s.py", "-o", "s.json", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    trace = json.loads((tmp_path / "s.json").read_text())
    assert len(trace["flushes"]) == 1 and trace["flushes"][0]["count"] == 3  # repeats counted
    env = {**os.environ, "LT_VIZ": str(tmp_path / "t.json")}
    p = subprocess.run([sys.executable, "s.py"], cwd=tmp_path, env=env, capture_output=True,
                       text=True)
    assert p.returncode == 0, p.stderr
    r = lt_viz("t.json", "-o", "t.html", cwd=tmp_path)
    assert r.returncode == 0 and "flush 0" in (tmp_path / "t.html").read_text()
    r = lt_viz("s.py", "--format", "dot", cwd=tmp_path)
    assert r.returncode == 0 and "s.py:4" in r.stdout  # the user's line in the tooltips


def test_not_a_trace(tmp_path):
    (tmp_path / "x.json").write_text("{}")
    r = lt_viz("x.json", cwd=tmp_path)
    assert r.returncode == 1 and "not a lazytensor-viz trace" in r.stderr


def test_lt_viz_refuses_other_objects(tmp_path):
    with pytest.raises(TypeError, match="lt.viz draws a Tensor"):
        visualize.viz(3, str(tmp_path / "x.html"))
