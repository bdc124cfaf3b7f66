"""The FileCheck harness behind tests/passes/**/*.lt (LLVM lit's job, in a few lines).

A `.lt` file holds IR text and `//` comment lines: one or more `// RUN: <command>` lines and the
`// CHECK...` lines that `filecheck` (the `filecheck` package, a clone of LLVM's FileCheck)
matches against the command's output. In a RUN line:

- `%s` is the `.lt` file's path;
- `lt-opt` and `filecheck` run from this Python (`python -m ...`), so no PATH setup is needed;
- `not <cmd>` succeeds when <cmd> fails (to check diagnostics: `not lt-opt %s 2>&1 | filecheck %s`).

A RUN line ending in `| filecheck ...` is run as two steps: the producer, whose output is kept,
then filecheck over it. When a check fails, `LtFailure` says which RUN line, the CHECK line
expected, the output (numbered) and the output line where matching stopped.
"""
from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

RUN = re.compile(r"^\s*//\s*RUN:\s?(.*)$")
_FILECHECK_TAIL = re.compile(r"^(?P<producer>.*)\|\s*filecheck\b(?P<args>[^|]*)$")
_POSITION = re.compile(r"Current position at <stdin>:(\d+):(\d+)")
_CHECK_AT = re.compile(r":(\d+): error: (.*)")
NOT_HELPER = Path(__file__).with_name("lt_not.py")
TIMEOUT_S = 120


class LtFailure(Exception):
    """A RUN line of a `.lt` file failed; str() is the whole report."""


@dataclass
class RunResult:
    """One RUN line's command after substitution and what it produced."""
    command: str
    returncode: int
    stdout: str
    stderr: str


def run_lines(path: Path) -> list[str]:
    """The RUN commands of a file (a trailing backslash continues a RUN line on the next one)."""
    cmds, pending = [], ""
    for line in path.read_text().splitlines():
        m = RUN.match(line)
        if not m:
            continue
        part = m.group(1).rstrip()
        if part.endswith("\\"):
            pending += part[:-1] + " "
            continue
        cmds.append((pending + part).strip())
        pending = ""
    return cmds


def substitute(command: str, path: Path) -> str:
    """A RUN command with %s, lt-opt, lt-viz, filecheck and not replaced by runnable commands."""
    py = shlex.quote(sys.executable)
    tools = {"lt-opt": f"{py} -m lazytensor.tools.lt_opt", "lt-viz": f"{py} -m lazytensor.tools.lt_viz",
             "filecheck": f"{py} -m filecheck", "not": f"{py} {shlex.quote(str(NOT_HELPER))}"}
    # `not` at the start of a pipeline stage; tool names as whole words (not inside a path)
    command = re.sub(r"(^|\|)(\s*)not(?=\s)", lambda m: m.group(1) + m.group(2) + tools["not"],
                     command)
    command = re.sub(r"(?<![\w/.-])(lt-opt|lt-viz|filecheck)(?![\w.-])",
                     lambda m: tools[m.group(1)], command)
    return command.replace("%s", shlex.quote(str(path)))  # last: a path may hold a tool's name


def _shell(command: str, stdin: str | None = None, cwd: Path | None = None) -> RunResult:
    proc = subprocess.run(["bash", "-o", "pipefail", "-c", command], input=stdin, text=True,
                          capture_output=True, timeout=TIMEOUT_S, cwd=cwd,
                          env={**os.environ, "PYTHONHASHSEED": "0"})
    return RunResult(command, proc.returncode, proc.stdout, proc.stderr)


def _numbered(text: str, mark: int | None) -> str:
    lines = text.splitlines() or ["<empty output>"]
    width = len(str(len(lines)))
    out = []
    for i, ln in enumerate(lines, 1):
        arrow = "  <-- matching stopped here" if i == mark else ""
        out.append(f"  {i:>{width}} | {ln}{arrow}")
    return "\n".join(out)


def check_file(path: Path) -> int:
    """Run every RUN line of `path`; raise LtFailure on the first failing one. Returns how many ran."""
    path = Path(path)
    cmds = run_lines(path)
    if not cmds:
        raise LtFailure(f"{path}: no '// RUN:' line")
    source = path.read_text().splitlines()
    for cmd in cmds:
        m = _FILECHECK_TAIL.match(cmd)
        if m is None:  # no filecheck: the command itself must succeed
            r = _shell(substitute(cmd, path))
            if r.returncode != 0:
                raise LtFailure(f"{path}: RUN: {cmd}\ncommand failed with exit status "
                                f"{r.returncode}\n--- stderr ---\n{r.stderr}--- stdout ---\n{r.stdout}")
            continue
        producer = m.group("producer").strip()
        prod = _shell(substitute(producer, path))
        if prod.returncode != 0:
            raise LtFailure(f"{path}: RUN: {cmd}\n`{producer}` failed with exit status "
                            f"{prod.returncode} (prefix it with `not` if that is expected)\n"
                            f"--- stderr ---\n{prod.stderr}--- stdout ---\n{prod.stdout}")
        fc = _shell(substitute("filecheck" + m.group("args"), path), stdin=prod.stdout)
        if fc.returncode != 0:
            raise LtFailure(_report(path, cmd, producer, prod, fc, source))
    return len(cmds)


def _check_regex(pattern: str) -> re.Pattern:
    """A FileCheck pattern as a Python regex ({{re}} kept, [[VAR:re]] as re, [[VAR]] as .*?)."""
    out, pos = [], 0
    for m in re.finditer(r"\{\{(.*?)\}\}|\[\[(?:[$@]?\w+:(.*?)|[$@]?\w+)\]\]", pattern):
        out.append(re.escape(pattern[pos:m.start()]))
        out.append(f"(?:{m.group(1)})" if m.group(1) is not None else
                   f"(?:{m.group(2)})" if m.group(2) is not None else ".*?")
        pos = m.end()
    out.append(re.escape(pattern[pos:]))
    return re.compile("".join(out))


def _where_they_part(msg: str, out_lines: list[str], source: list[str],
                     check_line: int | None) -> int | None:
    """The output line (1-based) where matching stopped.

    filecheck prints the text at its current position, but its line number counts from the start
    of the CHECK-LABEL block; so the line is found by its text, after the block's label.
    """
    pos = _POSITION.search(msg)
    if pos is None:
        return None
    rest = msg[pos.end():].split("\n")
    text = rest[1] if len(rest) > 1 else None
    start = 0
    if check_line is not None:  # the output line the enclosing CHECK-LABEL matched
        for ln in reversed(source[:check_line - 1]):
            lab = re.search(r"CHECK-LABEL:\s?(.*)$", ln)
            if lab:
                rx = _check_regex(lab.group(1).strip())
                start = next((i for i, o in enumerate(out_lines) if rx.search(o)), 0)
                break
    if text is not None:
        for i in range(start, len(out_lines)):
            if out_lines[i] == text:
                return i + 1
    return int(pos.group(1)) + start


def _report(path: Path, cmd: str, producer: str, prod: RunResult, fc: RunResult,
            source: list[str]) -> str:
    """The failure report: the CHECK line expected, the output, and where they part."""
    msg = fc.stderr.strip() or fc.stdout.strip()
    lines = [f"{path}: RUN: {cmd}", f"FileCheck failed: {msg.splitlines()[0] if msg else ''}"]
    at = _CHECK_AT.search(msg)
    if at and 1 <= int(at.group(1)) <= len(source):
        lines.append(f"expected ({path.name}:{at.group(1)}): {source[int(at.group(1)) - 1].strip()}")
    out_lines = prod.stdout.splitlines()
    mark = _where_they_part(msg, out_lines, source, int(at.group(1)) if at else None)
    if mark is not None:
        where = out_lines[mark - 1] if 1 <= mark <= len(out_lines) else "<end of output>"
        lines.append(f"where they part: output line {mark}: {where}")
    lines.append(f"--- output of `{producer}` ---")
    lines.append(_numbered(prod.stdout, mark))
    if prod.stderr.strip():
        lines.append(f"--- its stderr ---\n{prod.stderr.rstrip()}")
    lines.append(f"--- filecheck says ---\n{msg}")
    return "\n".join(lines)
