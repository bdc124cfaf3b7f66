"""lt-opt: run compiler passes over IR text and print the result (LLVM's `opt`, MLIR's `mlir-opt`).

    lt-opt graph.lt -p simplify,fuse,schedule
    lt-opt - -p fuse < graph.lt                 (stdin; also when no file is given)
    lt-opt cases.lt --split-input-file -p simplify
    lt-opt graph.lt -p simplify,fuse,schedule --emit=llvm

The input is the IR text form (compiler/text.py). Lines starting with `//` are comments of the
test file (RUN and CHECK lines) and are skipped, so line numbers in diagnostics are the file's.
With `--split-input-file` a line `// -----` separates independent cases; each is run alone and
their outputs are printed separated by the same marker.

Output: the graph after the passes, without the `# file:line` location comments unless
`--print-locations` (new nodes made by a pass carry the pass's own location, which is noise).
`--print-after-all` prints the graph after every pass first (on stdout, in pipeline order).
Errors (malformed IR, a verifier failure, a pass refusing its input) are printed as
`file:line:col: error: ...` or `file: error: ...` on stderr with exit status 1, never a traceback.
"""
from __future__ import annotations

import argparse
import re
import sys
from typing import Callable, Iterator

from lazytensor.compiler import autodiff as _autodiff  # noqa: F401  (registers the autodiff pass)
from lazytensor.compiler.ir import prune
from lazytensor.compiler.passes import Graph, graph_text, parse_pipeline, run_pipeline
from lazytensor.compiler.text import IRParseError, parse_graph, print_graph
from lazytensor.compiler.verify import VerifyError

from . import run_cli

SPLIT_MARKER = "// -----"
_LOCATION_COMMENT = re.compile(r"^(%\S+ = .*?)\s+# .*$")


class ToolError(Exception):
    """An error the tool reports as `file: error: message` (exit status 1)."""


def split_cases(text: str, split: bool) -> Iterator[tuple[int, str]]:
    """(first line number, text) of each case; other cases' lines are blanked so that line
    numbers in a case's diagnostics are the file's."""
    lines = text.splitlines()
    if not split:
        yield 1, text
        return
    starts = [0] + [i + 1 for i, ln in enumerate(lines) if ln.strip() == SPLIT_MARKER]
    ends = [i for i, ln in enumerate(lines) if ln.strip() == SPLIT_MARKER] + [len(lines)]
    for a, b in zip(starts, ends):
        yield a + 1, "\n" * a + "\n".join(lines[a:b]) + "\n"


def strip_comments(text: str) -> str:
    """Blank the `//` comment lines (RUN/CHECK lines) of a test file, keeping line numbers."""
    return "\n".join("" if ln.lstrip().startswith("//") else ln for ln in text.splitlines()) + "\n"


def drop_locations(text: str) -> str:
    """IR text without the trailing `# file:line` comments of value lines."""
    return "\n".join(_LOCATION_COMMENT.sub(r"\1", ln) for ln in text.splitlines()) + "\n"


def graph_ir(g: Graph, locations: bool) -> str:
    """The IR text of `g`: plain (re-parseable) before fuse, with kernels and schedule after."""
    text = print_graph(g.outputs) if g.kernels is None and g.schedule is None else graph_text(g)
    return text if locations else drop_locations(text)


def run_passes(g: Graph, pipeline: str, verify_each: bool,
               after_each: Callable[[str, Graph], None] | None = None) -> Graph:
    """Run the pipeline one pass at a time, naming the pass that fails or breaks the verifier."""
    for name in parse_pipeline(pipeline):
        try:
            g = run_pipeline(g, name, check=verify_each)
        except VerifyError as e:
            raise ToolError(f"verifier failed after pass '{name}': {e}") from None
        except (ValueError, NotImplementedError) as e:
            raise ToolError(f"pass '{name}' failed: {e}") from None
        if after_each is not None:
            after_each(name, g)
    return g


def emit_kernels(g: Graph, target: str) -> str:
    """The rendered source of every kernel of a scheduled graph, in launch order."""
    if g.schedule is None:
        raise ToolError(f"--emit={target} needs a scheduled graph: add 'fuse,schedule' to -p")
    if target == "cuda":
        try:
            from lazytensor.runtime.cuda import renderer  # noqa: F401
        except ImportError:
            raise ToolError("--emit=cuda: there is no CUDA renderer yet (lazytensor.runtime.cuda "
                            "does not exist); --emit=llvm renders the CPU kernels") from None
        return "\n".join(renderer.render(s.kernel, f"k_{s.kernel.name}").source
                         for s in g.schedule.steps)
    from lazytensor.runtime.llvm.renderer import render
    parts = []
    for i, step in enumerate(g.schedule.steps):
        parts.append(f"; step {i}: kernel {step.kernel.name}\n"
                     + render(step.kernel, f"k_{step.kernel.name}").ir)
    return "\n".join(parts)


def process(text: str, args, out) -> None:
    """Parse one case, run the passes and write what was asked for to `out`."""
    try:
        outputs = parse_graph(strip_comments(text))
    except IRParseError as e:
        raise ToolError(e.diagnostic(args.display_name)) from None
    g = Graph(tuple(outputs))
    if args.verify_each:
        try:
            run_pipeline(g, "", check=True)
        except VerifyError as e:
            raise ToolError(f"verifier failed on the input: {e}") from None

    def dump(name: str, g: Graph) -> None:
        out.write(f"// ---- IR after {name} ----\n{graph_ir(g, args.print_locations)}\n")

    g = run_passes(g, args.passes, args.verify_each, dump if args.print_after_all else None)
    if args.emit:
        out.write(emit_kernels(g, args.emit))
    else:
        out.write(graph_ir(g, args.print_locations))


def build_parser() -> argparse.ArgumentParser:
    """The command line of lt-opt."""
    p = argparse.ArgumentParser(prog="lt-opt", description="Run lazytensor compiler passes over "
                                "IR text and print the result.")
    p.add_argument("input", nargs="?", default="-", help="IR text file ('-' or none: stdin)")
    p.add_argument("-p", "--passes", default="",
                   help="comma-separated pipeline, e.g. 'autodiff,simplify,fuse,schedule'")
    p.add_argument("--print-after-all", action="store_true",
                   help="print the IR after every pass (stdout, before the result)")
    p.add_argument("--verify-each", action="store_true",
                   help="run the IR verifier on the input and after every pass")
    p.add_argument("--split-input-file", action="store_true",
                   help=f"treat '{SPLIT_MARKER}' lines as separators of independent cases")
    p.add_argument("--emit", choices=("llvm", "cuda"),
                   help="print the rendered kernels of the scheduled graph instead of the IR")
    p.add_argument("--print-locations", action="store_true",
                   help="keep the '# file:line' source locations in the printed IR")
    p.add_argument("-o", "--output", default="-", help="output file ('-': stdout)")
    return p


def _run(argv: list[str] | None = None) -> int:
    """Parse the arguments, run the passes and print; returns the exit status."""
    args = build_parser().parse_args(argv)
    args.display_name = "<stdin>" if args.input == "-" else args.input
    try:
        parse_pipeline(args.passes)
        text = sys.stdin.read() if args.input == "-" else open(args.input).read()
    except (ValueError, OSError) as e:
        print(f"lt-opt: error: {e}", file=sys.stderr)
        return 1
    out = sys.stdout if args.output == "-" else open(args.output, "w")
    status = 0
    try:
        for i, (first_line, case) in enumerate(split_cases(text, args.split_input_file)):
            if i:
                out.write(SPLIT_MARKER + "\n")
            try:
                process(case, args, out)
            except ToolError as e:
                msg = str(e)
                if not msg.startswith(args.display_name + ":"):
                    # no position of its own: name the case by its first line when split
                    where = f":{first_line}" if args.split_input_file else ""
                    msg = f"{args.display_name}{where}: error: {msg}"
                out.flush()  # keep stdout and stderr in order when both go to one pipe
                print(msg, file=sys.stderr)
                status = 1
            prune()  # forget this case's nodes and placeholder buffers before the next one
    finally:
        out.flush()
        if out is not sys.stdout:
            out.close()
    return status


def main(argv: list[str] | None = None) -> int:
    """Entry point of the `lt-opt` console script; returns the exit status."""
    return run_cli(_run, argv)


if __name__ == "__main__":
    sys.exit(main())
