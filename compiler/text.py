"""The IR's text form: one typed node a line, printed and parsed back to the identical graph.

Example (`print_graph([y])`)::

    %0 = BUFFER #12 : f32[6]                        # model.py:3
    %1 = RESHAPE %0 (2, 3) : f32[2,3]               # model.py:3
    %2 = CONST 1.0 : f32[]                          # model.py:4
    %3 = RESHAPE %2 (1, 1) : f32[1,1]               # model.py:4
    %4 = EXPAND %3 (2, 3) : f32[2,3]                # model.py:4
    %5 = ADD %1, %4 : f32[2,3]                      # model.py:4
    return %5

Grammar (one statement a line; blank lines and lines holding only a comment are skipped)::

    line     := VALUE '=' OP [operand (',' operand)*] [arg] ':' type [comment]
              | 'return' [VALUE (',' VALUE)*]              (the last statement, exactly once)
    VALUE    := '%' name          (printed as %0, %1, ... in topological order; any [A-Za-z0-9_.]
                                   name parses)
    type     := DTYPE '[' [int (',' int)*] ']'     DTYPE is a short name: f32, i64, b1, bf16, ...
    comment  := '# ' text         a trailing 'file:line' comment is the node's source location

The argument's spelling depends on the op (`verify.ARG_KINDS`):

    BUFFER #12                       the Buffer with uid 12 (`Buffer.live`; a uid that is not
                                     alive makes a placeholder Buffer of the line's type, no data)
    CONST 1.0 / 3 / True / -0.0 / nan / inf / -inf
                                     a Python float (repr, so it round-trips exactly), int or bool
    RAND seed=7, offset=0            RAND's (seed, counter offset)
    CAST %0 i32                      the target dtype
    RESHAPE %0 (2, 3), EXPAND        the new shape;  PERMUTE %0 (1, 0): the order
    SUM %0 (0, 2), PROD, MAX_REDUCE, FLIP  the axes  ((1,) for one axis, () for none)
    PAD %0 ((0, 1), (2, 0)), SHRINK  (lo, hi) / (begin, end) per axis
    GATHER %1, %2 axis=1             the gathered axis

Every line's declared type is checked against the registry's shape and dtype rules, so text
written by hand is as well-formed as a graph built by `ops.make`. Parsing builds nodes with
`ir.node`, which hash-conses: a line whose node exists already yields that very node (so
`parse_graph(print_graph(g))` returns `g`'s node objects), and a new node takes its location
from the line's comment (None without one). The location is never part of a node's identity.

Malformed text raises `IRParseError` with the 1-based line and column of the fault; `str()` of it
is 'line:column: message' and `diagnostic(filename)` renders it with the line and a caret.
"""
from __future__ import annotations

import difflib
import re
from typing import Any, Iterable

from . import dtypes as dt
from .ir import Buffer, IRError, Node, node, toposort
from .ops import REGISTRY, Op
from .verify import ARG_KINDS, arg_problem, infer_type, type_str

__all__ = ["IRParseError", "print_graph", "parse_graph", "format_node"]


class IRParseError(IRError):
    """Malformed IR text: `message` at 1-based `line` and `column` (`source` is that line's text)."""

    def __init__(self, message: str, line: int, column: int, source: str = ""):
        super().__init__(f"{line}:{column}: {message}")
        self.message = message
        self.line = line
        self.column = column
        self.source = source

    def diagnostic(self, filename: str = "<ir>") -> str:
        """The error as a compiler prints it: 'file:line:col: error: message', the line, a caret."""
        out = f"{filename}:{self.line}:{self.column}: error: {self.message}"
        if self.source:
            out += f"\n{self.source}\n{' ' * (self.column - 1)}^"
        return out


# ---- printing ----

_DTYPE_BY_SHORT = {d.short: d for d in (*dt.ALL_DTYPES, dt.uint32)}
_COMMENT_COLUMN = 48  # location comments line up here when the statement is shorter


def _tuple_text(t: tuple) -> str:
    items = [_tuple_text(v) if isinstance(v, tuple) else str(v) for v in t]
    return f"({items[0]},)" if len(items) == 1 else "(" + ", ".join(items) + ")"


def _arg_text(n: Node) -> str:
    kind, a = ARG_KINDS.get(n.op), n.arg
    if arg_problem(n.op, a):
        # a broken node still prints (for debugging dumps); the parser refuses this spelling
        return f"<bad argument {a!r}>"
    if kind is None:
        return ""
    if kind == "buffer":
        return f"#{a.uid}"
    if kind == "scalar":
        # repr keeps the Python type (True / 1 / 1.0) and round-trips every float exactly,
        # -0.0, nan and inf included
        return repr(a)
    if kind == "seed":
        return f"seed={a[0]}, offset={a[1]}"
    if kind == "dtype":
        return a.short
    if kind == "axis":
        return f"axis={a}"
    return _tuple_text(a)


def format_node(n: Node, names: dict[int, str], locations: bool = True) -> str:
    """One node's line; `names` maps id(source) to its '%k' name."""
    parts = [f"{names[id(n)]} = {n.op.name}"]
    if n.srcs:
        parts.append(", ".join(names[id(s)] for s in n.srcs))
    arg = _arg_text(n)
    if arg:
        parts.append(arg)
    line = " ".join(parts) + " : " + type_str(n.dtype, n.shape)
    if locations and n.loc is not None:
        line = f"{line.ljust(_COMMENT_COLUMN - 1)} # {n.loc[0]}:{n.loc[1]}"
    return line


def print_graph(outputs: Iterable[Node], locations: bool = True) -> str:
    """The text of the graph computing `outputs` (nodes numbered in topological order)."""
    outputs = list(outputs)
    names: dict[int, str] = {}
    lines = []
    for i, n in enumerate(toposort(outputs)):
        names[id(n)] = f"%{i}"
        lines.append(format_node(n, names, locations))
    lines.append("return" + ("" if not outputs else " " + ", ".join(names[id(o)] for o in outputs)))
    return "\n".join(lines) + "\n"


# ---- parsing ----

_TOKEN = re.compile(r"""
    (?P<ws>\s+)
  | (?P<comment>\#(?!\d).*)
  | (?P<buffer>\#\d+)
  | (?P<value>%[A-Za-z0-9_.]+)
  | (?P<number>[-+]?(?:(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?|inf|nan)(?![A-Za-z0-9_.]))
  | (?P<ident>[A-Za-z_][A-Za-z0-9_]*)
  | (?P<punct>[=,():\[\]])
""", re.VERBOSE)
_INT = re.compile(r"[-+]?\d+")
_LOCATION = re.compile(r"(.+):(\d+)")
_OPS = {op.name: op for op in Op}
_FRESH = ("<being parsed>", 0)  # marks a node that `node()` made just now (see _Parser.build)


class _Token:
    __slots__ = ("kind", "text", "col")

    def __init__(self, kind: str, text: str, col: int):
        self.kind, self.text, self.col = kind, text, col

    def describe(self) -> str:
        return "end of line" if self.kind == "eol" else f"'{self.text}'"


class _Line:
    """The tokens of one line, with a cursor and error reporting at a token's column."""

    def __init__(self, text: str, lineno: int):
        self.text, self.lineno = text, lineno
        self.tokens: list[_Token] = []
        self.comment: str | None = None
        pos = 0
        while pos < len(text):
            m = _TOKEN.match(text, pos)
            if m is None:
                raise IRParseError(f"unexpected character {text[pos]!r}", lineno, pos + 1, text)
            if m.lastgroup == "comment":
                self.comment = m.group()[1:].strip()
            elif m.lastgroup != "ws":
                self.tokens.append(_Token(m.lastgroup, m.group(), pos + 1))
            pos = m.end()
        self.tokens.append(_Token("eol", "", len(text) + 1))
        self.i = 0

    def error(self, message: str, tok: _Token | None = None) -> IRParseError:
        tok = tok or self.peek()
        return IRParseError(message, self.lineno, tok.col, self.text)

    def peek(self) -> _Token:
        return self.tokens[self.i]

    def next(self) -> _Token:
        tok = self.tokens[self.i]
        if tok.kind != "eol":
            self.i += 1
        return tok

    def at(self, text: str) -> bool:
        return self.peek().kind == "punct" and self.peek().text == text

    def expect(self, text: str, what: str | None = None) -> _Token:
        if not self.at(text):
            raise self.error(f"expected {what or repr(text)}, got {self.peek().describe()}")
        return self.next()

    def expect_kind(self, kind: str, what: str) -> _Token:
        if self.peek().kind != kind:
            raise self.error(f"expected {what}, got {self.peek().describe()}")
        return self.next()

    def int_(self, what: str = "an integer", minimum: int | None = None) -> int:
        tok = self.peek()
        if tok.kind != "number" or not _INT.fullmatch(tok.text):
            raise self.error(f"expected {what}, got {tok.describe()}")
        v = int(self.next().text)
        if minimum is not None and v < minimum:
            raise self.error(f"expected {what}, got {v}", tok)
        return v


def _parse_tuple(ln: _Line) -> tuple:
    """'(' [item (',' item)* [',']] ')' where an item is an int or a nested tuple."""
    ln.expect("(")
    items: list = []
    while not ln.at(")"):
        items.append(_parse_tuple(ln) if ln.at("(") else ln.int_("an integer or '('"))
        if ln.at(","):
            ln.next()
        elif not ln.at(")"):
            raise ln.error(f"expected ',' or ')', got {ln.peek().describe()}")
    ln.next()
    return tuple(items)


def _parse_scalar(ln: _Line) -> Any:
    tok = ln.peek()
    if tok.kind == "ident" and tok.text in ("True", "False"):
        ln.next()
        return tok.text == "True"
    if tok.kind == "number":
        ln.next()
        return int(tok.text) if _INT.fullmatch(tok.text) else float(tok.text)
    raise ln.error(f"expected a number, True or False, got {tok.describe()}")


def _parse_keyword(ln: _Line, name: str) -> int:
    tok = ln.peek()
    if tok.kind != "ident" or tok.text != name:
        raise ln.error(f"expected '{name}=', got {tok.describe()}")
    ln.next()
    ln.expect("=")
    return ln.int_()


def _parse_dtype(ln: _Line) -> dt.DType:
    tok = ln.expect_kind("ident", "a dtype like f32")
    d = _DTYPE_BY_SHORT.get(tok.text)
    if d is None:
        raise ln.error(f"unknown dtype '{tok.text}' (dtypes: {', '.join(_DTYPE_BY_SHORT)})", tok)
    return d


def _parse_arg(ln: _Line, op: Op) -> Any:
    """The op's argument in its spelling (a Buffer reference stays a ('#', uid) pair here)."""
    kind = ARG_KINDS.get(op)
    if kind == "buffer":
        tok = ln.expect_kind("buffer", "a buffer like #12")
        return ("#", int(tok.text[1:]))
    if kind == "scalar":
        return _parse_scalar(ln)
    if kind == "seed":
        seed = _parse_keyword(ln, "seed")
        ln.expect(",")
        return (seed, _parse_keyword(ln, "offset"))
    if kind == "dtype":
        return _parse_dtype(ln)
    if kind == "axis":
        return _parse_keyword(ln, "axis")
    return _parse_tuple(ln)


def _parse_type(ln: _Line) -> tuple[dt.DType, tuple]:
    d = _parse_dtype(ln)
    ln.expect("[")
    dims: list[int] = []
    while not ln.at("]"):
        dims.append(ln.int_("a dimension (an integer >= 0)", minimum=0))
        if ln.at(","):
            ln.next()
            if ln.at("]"):
                raise ln.error("expected a dimension after ','")
        elif not ln.at("]"):
            raise ln.error(f"expected ',' or ']', got {ln.peek().describe()}")
    ln.next()
    return d, tuple(dims)


def _location(comment: str | None) -> tuple[str, int] | None:
    m = _LOCATION.fullmatch(comment) if comment else None
    return (m.group(1).strip(), int(m.group(2))) if m else None


class _Parser:
    def __init__(self, text: str):
        self.lines = text.splitlines()
        self.values: dict[str, tuple[Node, int]] = {}  # name -> (node, line defined)

    def operand(self, ln: _Line) -> Node:
        tok = ln.expect_kind("value", "a value like %3")
        if tok.text not in self.values:
            raise ln.error(f"use of undefined value {tok.text}", tok)
        return self.values[tok.text][0]

    def statement(self, ln: _Line) -> None:
        name_tok = ln.expect_kind("value", "a value like %3 or 'return'")
        if name_tok.text in self.values:
            raise ln.error(f"redefinition of value {name_tok.text} "
                           f"(first defined on line {self.values[name_tok.text][1]})", name_tok)
        ln.expect("=")
        op_tok = ln.expect_kind("ident", "an op name")
        op = _OPS.get(op_tok.text)
        if op is None:
            close = difflib.get_close_matches(op_tok.text.upper(), _OPS, n=1)
            hint = f" (did you mean '{close[0]}'?)" if close else ""
            raise ln.error(f"unknown op '{op_tok.text}'{hint}", op_tok)
        srcs: list[Node] = []
        if ln.peek().kind == "value":
            srcs.append(self.operand(ln))
            while ln.at(","):
                ln.next()
                srcs.append(self.operand(ln))
        arity = REGISTRY[op].arity
        if len(srcs) != arity:
            raise ln.error(f"{op.name} takes {arity} operand{'s' * (arity != 1)}, got {len(srcs)}",
                           op_tok)
        arg_tok = ln.peek()
        if op in ARG_KINDS:
            arg = _parse_arg(ln, op)
        elif not ln.at(":") and (arg_tok.kind in ("number", "buffer") or ln.at("(")):
            raise ln.error(f"{op.name} takes no argument", arg_tok)
        else:
            arg = None
        ln.expect(":", "':' and the type")
        type_tok = ln.peek()
        dtype, shape = _parse_type(ln)
        if ln.peek().kind != "eol":
            raise ln.error(f"expected end of line, got {ln.peek().describe()}")
        n = self.build(ln, op, tuple(srcs), arg, dtype, shape, op_tok, arg_tok, type_tok)
        self.values[name_tok.text] = (n, ln.lineno)

    def build(self, ln, op, srcs, arg, dtype, shape, op_tok, arg_tok, type_tok) -> Node:
        """The node a line describes, its declared type checked against the registry's rules."""
        declared = type_str(dtype, shape)
        if op is Op.BUFFER:
            uid = arg[1]
            arg = Buffer.live.get(uid)
            if arg is None:
                if len(shape) != 1:
                    raise ln.error(f"a BUFFER is 1-D, but the line says {declared}", type_tok)
                arg = Buffer(dtype, shape[0], uid=uid)  # a placeholder: text names no data
        problem = arg_problem(op, arg)
        if problem:
            raise ln.error(problem, arg_tok)
        if op is Op.RAND and not dtype.is_floating_point:
            raise ln.error(f"RAND makes floats, not {dtype.short}", type_tok)
        try:
            want_dtype, want_shape = infer_type(op, srcs, arg, dtype, shape)
        except IRError as e:
            raise ln.error(f"{op.name}: {e}", op_tok) from None
        if want_dtype is not dtype or want_shape != shape:
            source = (f"buffer #{arg.uid} is" if op is Op.BUFFER else
                      "a CONST is always" if op is Op.CONST else "operands give")
            raise ln.error(f"type mismatch: {op.name} says {declared} but {source} "
                           f"{type_str(want_dtype, want_shape)}", type_tok)
        try:
            n = node(op, dtype, shape, srcs, arg, loc=_FRESH)
        except IRError as e:  # the table holds a node with these fields but another type
            raise ln.error(str(e), op_tok) from None
        if n.loc is _FRESH:  # made just now: it takes the line's location
            n.loc = _location(ln.comment)
        return n

    def ret(self, ln: _Line) -> list[Node]:
        ln.next()
        outs: list[Node] = []
        if ln.peek().kind != "eol":
            outs.append(self.operand(ln))
            while ln.at(","):
                ln.next()
                outs.append(self.operand(ln))
        if ln.peek().kind != "eol":
            raise ln.error(f"expected ',' or end of line, got {ln.peek().describe()}")
        return outs

    def parse(self) -> list[Node]:
        outputs: list[Node] | None = None
        for lineno, text in enumerate(self.lines, 1):
            ln = _Line(text, lineno)
            first = ln.peek()
            if first.kind == "eol":
                continue
            if outputs is not None:
                raise ln.error("unexpected statement after 'return'")
            if first.kind == "ident" and first.text == "return":
                outputs = self.ret(ln)
            else:
                self.statement(ln)
        if outputs is None:
            last = self.lines[-1] if self.lines else ""
            raise IRParseError("missing 'return' line at the end of the graph",
                               max(len(self.lines), 1), len(last) + 1, last)
        return outputs


def parse_graph(text: str) -> list[Node]:
    """The output nodes of the graph that `text` spells (IRParseError if it is malformed)."""
    return _Parser(text).parse()
