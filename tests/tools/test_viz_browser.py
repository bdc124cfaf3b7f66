"""The visualizer's HTML page in a real headless browser (Debian's chromium; skipped without it).

The page runs its own checks when opened with `#selftest` (clusters drawn, a real click event on
a collapsed kernel expands it, no two kernel frames intersect with every kernel expanded) and writes
them into the DOM, which `--dump-dom` returns.
"""
from __future__ import annotations

import json
import os
import re
import sys

import pytest

sys.path.insert(0, os.path.dirname(__file__))
import chromium  # noqa: E402

from lazytensor import visualize  # noqa: E402

pytestmark = pytest.mark.skipif(chromium.find() is None, reason="chromium is not installed")


def selftest(html_path) -> dict:
    out, err = chromium.run(f"file://{html_path}#selftest", "--dump-dom")
    m = re.search(r'<pre id="selftest-result">(.*?)</pre>', out)
    assert m, f"no self-test result in the DOM; chromium said:\n{err[-2000:]}"
    result = json.loads(m.group(1).replace("&quot;", '"').replace("&lt;", "<").replace("&gt;", ">")
                        .replace("&amp;", "&"))
    assert chromium.console_errors(err) == []
    assert result["errors"] == []
    return result


def assert_frames_separate(r: dict) -> None:
    """No two cluster rectangles intersect, after the click and with every kernel expanded (at
    every stage), and each node of an expanded kernel lies inside its kernel's frame."""
    checks = [r["after_click"]] + [r[f"expanded_{j}"] for j in range(r["stages"])]
    for c in checks:
        assert c["overlaps"] == 0 and c["outside"] == 0, r


def _split_graph():
    """A softmax denominator: the row max is broadcast back, so the graph splits in two kernels."""
    import numpy as np

    import lazytensor as lt
    x = lt.tensor(np.arange(12.0).reshape(3, 4), dtype=lt.float32)
    return [((x - x.max(1, keepdim=True).values).exp().sum(1, keepdim=True)).node]


def test_known_graph_two_kernels_and_click_expands(tmp_path):
    trace = visualize.new_trace([visualize.record_graph(_split_graph(), label="split")])
    page = tmp_path / "split.html"
    page.write_text(visualize.to_html(trace))
    r = selftest(page)
    assert r["stages"] == 4  # input, after simplify, after fuse, after schedule
    assert r["clusters"] == 2  # the graph splits in two kernels
    assert r["nodes_collapsed"] >= 1  # the BUFFER read by both kernels stays outside them
    assert r["expanded_after_click"] == 1 and r["nodes_after_click"] > r["nodes_collapsed"]
    assert r["side"].startswith("r_3_4_")  # the clicked kernel's source is shown
    assert_frames_separate(r)
    assert r["expanded_3"]["expanded"] == 2


def _multi_kernel_graph():
    """Matmul, relu and a stable softmax: four kernels sharing inputs, drawn with every kernel
    expanded (the graph is small)."""
    import numpy as np

    import lazytensor as lt
    x = lt.tensor(np.arange(24.0).reshape(4, 6), dtype=lt.float32)
    w = lt.tensor(np.arange(18.0).reshape(6, 3), dtype=lt.float32)
    h = (x @ w).relu()
    h = h - h.max(1, keepdim=True).values
    e = h.exp()
    return [(e / e.sum(1, keepdim=True)).node]


def test_multi_kernel_frames_do_not_overlap(tmp_path):
    trace = visualize.new_trace([visualize.record_graph(_multi_kernel_graph(), label="softmax")])
    page = tmp_path / "softmax.html"
    page.write_text(visualize.to_html(trace))
    r = selftest(page)
    assert r["clusters"] == 4 and r["expanded_after_click"] == 1
    assert_frames_separate(r)
    for j in range(r["stages"]):  # every kernel drawn as its own frame, at every stage
        assert r[f"expanded_{j}"]["expanded"] == r[f"expanded_{j}"]["frames"] == 4


def _big_graph(steps=310):
    """A deep graph of ~5,000 nodes (~16 per step: matmul, relu, a stable softmax)."""
    import lazytensor as lt
    x = lt.randn(8, 16)
    w = lt.randn(16, 16)
    for _ in range(steps):
        h = (x @ w).relu()
        h = h - h.max(1, keepdim=True).values
        e = h.exp()
        x = e / e.sum(1, keepdim=True)
    return x


def test_5000_node_graph_loads_fast_collapsed(tmp_path):
    from lazytensor.compiler.ir import toposort
    y = _big_graph()
    assert len(toposort([y.node])) >= 5000
    page = tmp_path / "big.html"
    visualize.viz(y, str(page), pipeline="fuse,schedule")
    r = selftest(page)
    assert r["load_ms"] < 2000, r
    assert r["clusters"] > 50  # collapsed by kernel: one box per kernel
    assert r["expanded_after_click"] == 1
    assert_frames_separate(r)


def test_screenshot(tmp_path):
    trace = visualize.new_trace([visualize.record_graph(_split_graph(), label="split")])
    page = tmp_path / "split.html"
    page.write_text(visualize.to_html(trace))
    shot = tmp_path / "viz.png"
    chromium.run(f"file://{page}", f"--screenshot={shot}", "--window-size=1400,900")
    assert shot.exists() and shot.stat().st_size > 5000
