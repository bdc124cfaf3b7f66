"""The native thread pool: the LLVM IR of its loops, and the trampolines that call a kernel.

A launch hands each part of a kernel to a worker thread as a *task*, five 8-byte words:
`(trampoline, kernel, args, start, end)`. `trampoline` is `lt_tramp_<n>(fn, args, start, end)`,
which loads the n pointers of `args` and calls `fn(args[0], .., args[n-1], start, end)` (a kernel
has `n = inputs + 2` pointers: out, inputs, err), so one pool loop runs kernels of any arity.

The pool's shared state (`State`, one 64-byte-aligned block) is laid out so that what the caller
writes and what each worker polls sit on separate cache lines:

    PENDING          i32  parts still running on workers (the caller's futex word)
    CALLER_SLEEPING  i32  the caller is (about to be) asleep on PENDING
    WORKER_SPIN      i64  pause iterations a worker spins before it sleeps
    CALLER_SPIN      i64  pause iterations the caller spins before it sleeps
    CORE_PART        i32[CPU_TABLE]  cpu number -> the first part whose worker is pinned there
    slot i (64 B)    i32 seq (worker i's futex word: bumped once per task handed to it),
                     i32 sleeping, ptr task, i32 claim (0: the task is free to take)

A worker (`lt_worker(state, i)`, called through ctypes from its Python thread, never returns)
waits for its `seq` to change: spinning with `pause` for WORKER_SPIN iterations, then asleep on a
futex, so an idle pool uses no CPU. It claims its task (atomic exchange of `claim`), runs it,
then decrements PENDING; the last one wakes the caller if it sleeps.

`lt_run(state, tasks, nparts)` hands every part but one to its worker and runs that one on the
calling thread: the part whose worker is pinned to the core the caller is on now (`sched_getcpu`;
that worker is left asleep, so the two never fight for the core, and each part keeps running on
its core, near its data in cache). Then it claims and runs any part whose worker has not started
it yet (a worker still waking up, or whose core is busy with another process: the caller does
not wait for it to get a core), and waits (spin, then futex) until PENDING is 0. A worker that
finds its task claimed goes back to waiting; claims make each task run exactly once (a worker
woken for a launch whose task the caller took may claim the next launch's task: that is fine, the
task is reset before `seq` moves, and the worker then finds its next bump already claimed).

Memory ordering: the caller's stores of a task (and of PENDING) happen before its release store
of `claim` = 0 and its seq_cst bump of `seq`, which the worker reads with acquire (the exchange
of `claim` is seq_cst); a worker's writes happen before its seq_cst decrement of PENDING,
which the caller reads with acquire: outputs are visible to the caller when `lt_run` returns.
Sleeping uses the Dekker pattern: each side stores its own flag/counter (seq_cst) and then loads
the other's (seq_cst), so either the sleeper sees the change or the waker sees the sleeper.
"""
from __future__ import annotations

import ctypes
import os
import platform
import sys
import threading

import llvmlite.binding as llvm
import numpy as np

from lazytensor import config

from .compiler import compile_ir

# futex(2) system call numbers of the platforms with a native pool
SYS_FUTEX = {"x86_64": 202, "aarch64": 98}
_ARCH = {"amd64": "x86_64", "arm64": "aarch64"}.get(platform.machine().lower(),
                                                    platform.machine().lower())
# the native pool needs Linux's futex; elsewhere threads.py runs its Python pool
NATIVE = sys.platform.startswith("linux") and _ARCH in SYS_FUTEX
FUTEX_WAIT_PRIVATE, FUTEX_WAKE_PRIVATE = 128, 129

PENDING, CALLER_SLEEPING, WORKER_SPIN, CALLER_SPIN, CORE_PART = 0, 4, 64, 72, 128
CPU_TABLE = 1024  # cpu numbers the caller's part is looked up for (others run the last part)
SLOTS = CORE_PART + 4 * CPU_TABLE  # 64-byte aligned
SLOT = 64
TASK = 5  # words per task
_PAUSE = {"x86_64": "call void @llvm.x86.sse2.pause()",
          "aarch64": "call void @llvm.aarch64.hint(i32 1)"}  # yield
_PAUSE_DECL = {"x86_64": "declare void @llvm.x86.sse2.pause()",
               "aarch64": "declare void @llvm.aarch64.hint(i32)"}

_RUN_TASK = """
define void @lt_run_task(ptr %t) {
  %tramp = load ptr, ptr %t, align 8
  %p1 = getelementptr i64, ptr %t, i64 1
  %fn = load ptr, ptr %p1, align 8
  %p2 = getelementptr i64, ptr %t, i64 2
  %args = load ptr, ptr %p2, align 8
  %p3 = getelementptr i64, ptr %t, i64 3
  %s = load i64, ptr %p3, align 8
  %p4 = getelementptr i64, ptr %t, i64 4
  %e = load i64, ptr %p4, align 8
  call void %tramp(ptr %fn, ptr %args, i64 %s, i64 %e)
  ret void
}
"""


def support_ir() -> str:
    """`lt_run_task(task)`: runs one task; every platform's pool calls it."""
    return _RUN_TASK


def native_ir(arch: str = _ARCH) -> str:
    """The futex pool of `arch` (x86_64 | aarch64), compiled with support_ir: `lt_spin(n)` (n
    pauses, to calibrate the spin budgets), `lt_worker(state, i)` and
    `lt_run(state, tasks, nparts) -> the part run on the calling thread`."""
    pause = _PAUSE[arch]

    def futex(op: int, val: str) -> str:  # futex(word, op, val, no timeout, -, -)
        return (f"call i64 (i64, ...) @syscall(i64 {SYS_FUTEX[arch]}, ptr %word, i64 {op}, "
                f"i64 {val}, ptr null, ptr null, i64 0)")

    return f"""
declare i64 @syscall(i64, ...)
declare i32 @sched_getcpu()
{_PAUSE_DECL[arch]}

define void @lt_spin(i64 %n) {{
entry:
  br label %loop
loop:
  %i = phi i64 [ %n, %entry ], [ %i1, %body ]
  %more = icmp sgt i64 %i, 0
  br i1 %more, label %body, label %done
body:
  {pause}
  %i1 = sub i64 %i, 1
  br label %loop
done:
  ret void
}}

; wait until the i32 at %word differs from %seen: spin up to the budget at %budget, then sleep
; on the futex with %flag set (the waker reads it); returns the new value (acquire)
define internal i32 @lt_wait(ptr %word, i32 %seen, ptr %flag, ptr %budget) {{
entry:
  %n = load atomic i64, ptr %budget monotonic, align 8
  br label %spin
spin:
  %b = phi i64 [ %n, %entry ], [ %b1, %pause ]
  %v = load atomic i32, ptr %word acquire, align 4
  %changed = icmp ne i32 %v, %seen
  br i1 %changed, label %done, label %check
check:
  %more = icmp sgt i64 %b, 0
  br i1 %more, label %pause, label %sleep
pause:
  {pause}
  %b1 = sub i64 %b, 1
  br label %spin
sleep:
  store atomic i32 1, ptr %flag seq_cst, align 4
  %v2 = load atomic i32, ptr %word seq_cst, align 4
  %same = icmp eq i32 %v2, %seen
  br i1 %same, label %futex, label %woke
futex:
  %seen64 = zext i32 %seen to i64
  %r = {futex(FUTEX_WAIT_PRIVATE, "%seen64")}
  br label %woke
woke:
  store atomic i32 0, ptr %flag seq_cst, align 4
  %v3 = load atomic i32, ptr %word acquire, align 4
  %still = icmp eq i32 %v3, %seen
  br i1 %still, label %sleep, label %done
done:
  %new = phi i32 [ %v, %spin ], [ %v3, %woke ]
  ret i32 %new
}}

define internal void @lt_wake(ptr %word, ptr %flag) {{
entry:
  %f = load atomic i32, ptr %flag seq_cst, align 4
  %asleep = icmp ne i32 %f, 0
  br i1 %asleep, label %wake, label %done
wake:
  %r = {futex(FUTEX_WAKE_PRIVATE, "1")}
  br label %done
done:
  ret void
}}

define void @lt_worker(ptr %state, i64 %i) {{
entry:
  %off = mul i64 %i, {SLOT}
  %off1 = add i64 %off, {SLOTS}
  %seq = getelementptr i8, ptr %state, i64 %off1
  %sleeping = getelementptr i8, ptr %seq, i64 4
  %taskp = getelementptr i8, ptr %seq, i64 8
  %claim = getelementptr i8, ptr %seq, i64 16
  %budget = getelementptr i8, ptr %state, i64 {WORKER_SPIN}
  %caller = getelementptr i8, ptr %state, i64 {CALLER_SLEEPING}
  br label %wait
wait:
  %seen = phi i32 [ 0, %entry ], [ %new, %done ]
  %new = call i32 @lt_wait(ptr %seq, i32 %seen, ptr %sleeping, ptr %budget)
  %won = atomicrmw xchg ptr %claim, i32 1 seq_cst
  %free = icmp eq i32 %won, 0
  br i1 %free, label %work, label %done
work:
  %task = load ptr, ptr %taskp, align 8
  call void @lt_run_task(ptr %task)
  %left = atomicrmw sub ptr %state, i32 1 seq_cst
  %last = icmp eq i32 %left, 1
  br i1 %last, label %wake, label %done
wake:
  call void @lt_wake(ptr %state, ptr %caller)
  br label %done
done:
  br label %wait
}}

define i32 @lt_run(ptr %state, ptr %tasks, i32 %nparts) {{
entry:
  %cpu = call i32 @sched_getcpu()
  %known = icmp ult i32 %cpu, {CPU_TABLE}
  br i1 %known, label %lookup, label %pick
lookup:
  %table = getelementptr i8, ptr %state, i64 {CORE_PART}
  %cpu64 = zext i32 %cpu to i64
  %entry_p = getelementptr i32, ptr %table, i64 %cpu64
  %found = load i32, ptr %entry_p, align 4
  br label %pick
pick:
  %k0 = phi i32 [ -1, %entry ], [ %found, %lookup ]
  %lastpart = sub i32 %nparts, 1
  %ok = icmp ult i32 %k0, %nparts
  %k = select i1 %ok, i32 %k0, i32 %lastpart
  store atomic i32 %lastpart, ptr %state monotonic, align 4
  br label %hand
hand:
  %i = phi i32 [ 0, %pick ], [ %i1, %next ]
  %more = icmp slt i32 %i, %nparts
  br i1 %more, label %one, label %mine
one:
  %self = icmp eq i32 %i, %k
  br i1 %self, label %next, label %give
give:
  %i64 = zext i32 %i to i64
  %off = mul i64 %i64, {SLOT}
  %off1 = add i64 %off, {SLOTS}
  %seq = getelementptr i8, ptr %state, i64 %off1
  %taskp = getelementptr i8, ptr %seq, i64 8
  %toff = mul i64 %i64, {8 * TASK}
  %task = getelementptr i8, ptr %tasks, i64 %toff
  store ptr %task, ptr %taskp, align 8
  %claim = getelementptr i8, ptr %seq, i64 16
  store atomic i32 0, ptr %claim release, align 4
  %old = atomicrmw add ptr %seq, i32 1 seq_cst
  %sleeping = getelementptr i8, ptr %seq, i64 4
  call void @lt_wake(ptr %seq, ptr %sleeping)
  br label %next
next:
  %i1 = add i32 %i, 1
  br label %hand
mine:
  %k64 = zext i32 %k to i64
  %koff = mul i64 %k64, {8 * TASK}
  %own = getelementptr i8, ptr %tasks, i64 %koff
  call void @lt_run_task(ptr %own)
  br label %steal
steal:
  %j = phi i32 [ 0, %mine ], [ %j1, %stolen ], [ %j1, %taken ]
  %j1 = add i32 %j, 1
  %left = icmp slt i32 %j, %nparts
  br i1 %left, label %try, label %waiting
try:
  %other = icmp eq i32 %j, %k
  br i1 %other, label %taken, label %claim_it
claim_it:
  %j64 = zext i32 %j to i64
  %joff = mul i64 %j64, {SLOT}
  %joff1 = add i64 %joff, {SLOTS + 16}
  %jclaim = getelementptr i8, ptr %state, i64 %joff1
  %won = atomicrmw xchg ptr %jclaim, i32 1 seq_cst
  %free = icmp eq i32 %won, 0
  br i1 %free, label %run_it, label %taken
run_it:
  %jtoff = mul i64 %j64, {8 * TASK}
  %jtask = getelementptr i8, ptr %tasks, i64 %jtoff
  call void @lt_run_task(ptr %jtask)
  %was = atomicrmw sub ptr %state, i32 1 seq_cst
  br label %stolen
stolen:
  br label %steal
taken:
  br label %steal
waiting:
  %budget = getelementptr i8, ptr %state, i64 {CALLER_SPIN}
  %flag = getelementptr i8, ptr %state, i64 {CALLER_SLEEPING}
  br label %wait
wait:
  %p = load atomic i32, ptr %state acquire, align 4
  %done = icmp eq i32 %p, 0
  br i1 %done, label %out, label %sleep
sleep:
  %p1 = call i32 @lt_wait(ptr %state, i32 %p, ptr %flag, ptr %budget)
  br label %wait
out:
  ret i32 %k
}}
"""


def trampoline_ir(n: int) -> str:
    """`lt_tramp_<n>(fn, args, start, end)`: calls `fn(args[0], .., args[n-1], start, end)`."""
    lines = [f"define void @lt_tramp_{n}(ptr %fn, ptr %args, i64 %s, i64 %e) {{"]
    for j in range(n):
        lines += [f"  %p{j} = getelementptr ptr, ptr %args, i64 {j}",
                  f"  %a{j} = load ptr, ptr %p{j}, align 8"]
    params = ", ".join([f"ptr %a{j}" for j in range(n)] + ["i64 %s", "i64 %e"])
    lines += [f"  call void %fn({params})", "  ret void", "}"]
    return "\n".join(lines)


# compiled code lives in the shared engine, whose memory a forked child inherits: these stay valid
_tramps: dict[int, int] = {}  # arity -> address
_support: dict[str, int] = {}
_lock = threading.Lock()  # one compile per symbol: the engine rejects a second definition


def _after_fork_in_child() -> None:
    global _lock
    _lock = threading.Lock()  # a fork while another thread compiled leaves the lock held


os.register_at_fork(after_in_child=_after_fork_in_child)


def trampoline(n: int) -> int:
    """The address of `lt_tramp_<n>` (kernels with n pointer arguments), compiled on first use."""
    addr = _tramps.get(n)
    if addr is None:
        with _lock:
            if n not in _tramps:
                name = f"lt_tramp_{n}"
                _tramps[n] = compile_ir(trampoline_ir(n), [name], _cache_dir(), fast=True)[0][name]
            addr = _tramps[n]
    return addr


def support() -> dict[str, int]:
    """Addresses of the pool's functions (lt_run_task; and lt_spin, lt_worker, lt_run where the
    pool is native), compiled on first use."""
    with _lock:
        if not _support:
            _compile_support()
    return _support


def _compile_support() -> None:
    names, text = ["lt_run_task"], support_ir()
    if NATIVE:
        libc = ctypes.CDLL(None)
        for sym in ("syscall", "sched_getcpu"):  # what the engine links the pool against
            llvm.add_symbol(sym, ctypes.cast(getattr(libc, sym), ctypes.c_void_p).value)
        names += ["lt_spin", "lt_worker", "lt_run"]
        text += native_ir()
    _support.update(compile_ir(text, names, _cache_dir())[0])


def _cache_dir() -> str | None:
    """The kernels' disk cache (compiling the pool at O3 costs ~30 ms; loading it, ~0.1 ms)."""
    return None if config.get("NOCACHE") else config.get("CACHE_DIR")


class State:
    """The shared block of a native pool (layout in the module doc), 64-byte aligned."""

    def __init__(self, capacity: int):
        size = SLOTS + SLOT * capacity
        self._raw = np.zeros(size + 64, dtype=np.uint8)
        start = (-self._raw.ctypes.data) % 64
        self.buf = self._raw[start:start + size]
        self.address = self.buf.ctypes.data
        self.capacity = capacity
        self.core_part = self.buf[CORE_PART:SLOTS].view(np.int32)
        self.core_part[:] = -1
        self.spins = self.buf[WORKER_SPIN:WORKER_SPIN + 16].view(np.int64)  # worker, caller

    def pending(self) -> int:
        """Parts still running on workers (0 between launches)."""
        return int(self.buf[PENDING:PENDING + 4].view(np.int32)[0])

    def sleeping(self, i: int) -> bool:
        """Whether worker `i` is asleep on its futex (or about to be)."""
        at = SLOTS + SLOT * i + 4
        return bool(self.buf[at:at + 4].view(np.int32)[0])
