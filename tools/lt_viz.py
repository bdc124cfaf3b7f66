"""lt-viz: draw lazytensor graphs as one self-contained HTML page (or Graphviz dot / SVG).

    lt-viz graph.lt -o graph.html             IR text: the graph before and after each pass
    lt-viz train.py -o train.html [-- args]   run a script, recording every flush it makes
    LT_VIZ=trace.json python train.py && lt-viz trace.json -o train.html
    lt-viz graph.lt --format dot              Graphviz text on stdout (svg: through `dot`)

The page needs no network or server: open it in a browser. Kernels are clusters (dashed before
the fuse pass: the kernels it would make); big graphs open with each kernel collapsed to a box,
a click expands it and shows its rendered source; hovering a node shows the user's source line.
"""
from __future__ import annotations

import argparse
import os
import runpy
import sys

from lazytensor import visualize as _viz
from lazytensor.compiler.ir import prune
from lazytensor.compiler.text import IRParseError, parse_graph

from . import run_cli
from .lt_opt import strip_comments


def trace_of_script(path: str, argv: list[str], pipeline: str) -> dict:
    """Run a Python script as __main__ and record every flush it makes."""
    old_argv, old_path = sys.argv, list(sys.path)
    sys.argv = [path, *argv]
    sys.path.insert(0, os.path.dirname(os.path.abspath(path)))
    try:
        with _viz.Recorder(pipeline) as rec:
            try:
                runpy.run_path(path, run_name="__main__")
            except SystemExit as e:
                if e.code not in (None, 0):
                    raise
    finally:
        sys.argv, sys.path[:] = old_argv, old_path
    return rec.trace()


def trace_of_text(text: str, name: str, pipeline: str) -> dict:
    """Parse IR text (`//` lines are comments) and record it through the pipeline."""
    outputs = parse_graph(strip_comments(text))
    trace = _viz.new_trace([_viz.record_graph(outputs, pipeline, name)])
    del outputs
    prune()
    return trace


def build_parser() -> argparse.ArgumentParser:
    """The command line of lt-viz."""
    p = argparse.ArgumentParser(prog="lt-viz", description="Draw lazytensor graphs: IR text, a "
                                "Python script's flushes or an LT_VIZ trace, as HTML, dot or SVG.",
                                epilog="lt-viz train.py -o train.html -- --epochs 1 (after --: the "
                                "script's arguments)")
    p.add_argument("input", help="IR text (.lt/.ir or '-'), a Python script (.py) or a trace (.json)")
    p.add_argument("-o", "--output", default=None,
                   help="output file (default: <input>.html, or stdout for dot/svg)")
    p.add_argument("--format", choices=("html", "dot", "svg", "json"), default=None,
                   help="output format (default: from -o's extension, else html)")
    p.add_argument("-p", "--passes", default=_viz.PIPELINE, help="pipeline to record")
    return p


def _run(argv: list[str] | None = None) -> int:
    """Parse the arguments, build the page (or dot/svg) and write it; returns the exit status."""
    argv = list(sys.argv[1:] if argv is None else argv)
    script_args: list[str] = []
    if "--" in argv:  # what follows `--` is the script's own command line
        cut = argv.index("--")
        argv, script_args = argv[:cut], argv[cut + 1:]
    args = build_parser().parse_args(argv)
    fmt = args.format or (_viz._format_of(args.output) if args.output else "html")
    name = "<stdin>" if args.input == "-" else args.input
    try:
        if args.input.endswith(".py"):
            trace = trace_of_script(args.input, script_args, args.passes)
        elif args.input.endswith(".json"):
            trace = _viz.read_trace(args.input)
        else:
            text = sys.stdin.read() if args.input == "-" else open(args.input).read()
            trace = trace_of_text(text, os.path.basename(name), args.passes)
        out = _viz.render_trace(trace, fmt, title=f"lazytensor: {os.path.basename(name)}")
    except IRParseError as e:
        print(e.diagnostic(name), file=sys.stderr)
        return 1
    except (OSError, ValueError, RuntimeError) as e:
        print(f"lt-viz: error: {e}", file=sys.stderr)
        return 1
    target = args.output
    if target is None and fmt == "html":
        target = (os.path.splitext(name)[0] if args.input != "-" else "graph") + ".html"
    if target is None or target == "-":
        sys.stdout.write(out)
    else:
        with open(target, "w") as f:
            f.write(out)
        n = len(trace["flushes"])
        print(f"lt-viz: wrote {target} ({n} graph{'s' * (n != 1)})", file=sys.stderr)
    return 0


def main(argv: list[str] | None = None) -> int:
    """Entry point of the `lt-viz` console script; returns the exit status."""
    return run_cli(_run, argv)


if __name__ == "__main__":
    sys.exit(main())
