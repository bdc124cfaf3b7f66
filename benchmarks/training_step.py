"""One SGD training step of a two-layer MLP: time per step and kernel count, beside PyTorch eager.

    python benchmarks/training_step.py [--steps N] [--batch B] [--hidden H] [--kernels]

Each lazytensor step (forward, cross entropy, backward, SGD update) is flushed once by reading the
loss; the kernel count is what the fuse pass makes of that one graph. `--kernels` adds the llvm
step's per-kernel breakdown (LT_DEBUG=1 launch times: best and median over the steps, heaviest
first; what the kernels leave of the step time is Python: building the graph, planning, launching).
"""
from __future__ import annotations

import argparse
import contextlib
import io
import os
import re
import statistics
import time
from collections import defaultdict

import numpy as np

import lazytensor as lt
from lazytensor import config, lazy
from lazytensor.compiler.ir import toposort
from lazytensor.compiler.ops import ELEMENTWISE, REDUCE, Op
from lazytensor.compiler.passes import run_pipeline

try:
    import torch
except ImportError:  # torch is optional: its column is left out
    torch = None


def lt_training(x, y, weights):
    """A function that builds one step of the model (nothing runs) and returns its loss."""
    model = lt.nn.Sequential(lt.nn.Linear(x.shape[1], weights[0].shape[0]), lt.nn.ReLU(),
                             lt.nn.Linear(weights[0].shape[0], weights[2].shape[0]))
    with lt.no_grad():
        for p, w in zip(model.parameters(), weights):
            p.copy_(lt.from_numpy(w.copy()))
    opt = lt.optim.SGD(model.parameters(), lr=0.05)
    xt, yt = lt.from_numpy(x), lt.from_numpy(y)

    def build():
        opt.zero_grad()
        loss = lt.nn.functional.cross_entropy(model(xt), yt)
        loss.backward()
        opt.step()
        return loss
    return build


def lt_step_time(backend: str, x, y, weights, steps: int) -> tuple[float, int, int]:
    """Best seconds per step, kernels per step, primitive compute ops per step."""
    config.set(BACKEND=backend)
    build = lt_training(x, y, weights)
    best, kernels, ops = float("inf"), 0, 0
    for i in range(steps):
        t0 = time.perf_counter()
        loss = build()
        counting = 0.0
        if i == 0:  # count once, before the flush runs the step; the count is not part of its time
            c0 = time.perf_counter()
            outputs = [t.node for t in lazy.live_pending()]
            kernels = len(run_pipeline(outputs, "simplify,fuse,schedule").kernels)
            ops = sum(1 for n in toposort(outputs) if n.op in ELEMENTWISE or n.op in REDUCE or n.op is Op.GATHER)
            counting = time.perf_counter() - c0
        loss.item()
        best = min(best, time.perf_counter() - t0 - counting)
    return best, kernels, ops


def kernel_breakdown(x, y, weights, steps: int) -> None:
    """Print each llvm kernel's best and median launch time over `steps` steps (after a warm-up)."""
    config.set(BACKEND="llvm")
    build = lt_training(x, y, weights)

    def step():
        build().item()

    for _ in range(3):  # compile, then plan
        step()
    log = io.StringIO()
    old = config.get("DEBUG")
    config.set(DEBUG=1)
    try:
        with contextlib.redirect_stderr(log):
            for _ in range(steps):
                step()
    finally:
        config.set(DEBUG=old)
    times: dict[str, list[float]] = defaultdict(list)
    for line in log.getvalue().splitlines():
        m = re.match(r"(\S+)\s+([\d.]+) ms", line)
        if m:
            times[m[1]].append(float(m[2]))
    rows = sorted(times.items(), key=lambda kv: -statistics.median(kv[1]))
    print(f"per-kernel launch times over {steps} llvm steps (best / median ms):")
    for name, t in rows:
        print(f"  {name:<36} {min(t):7.3f} {statistics.median(t):7.3f}")
    print(f"  {'all ' + str(len(rows)) + ' kernels':<36} {sum(min(t) for t in times.values()):7.3f} "
          f"{sum(statistics.median(t) for t in times.values()):7.3f}")


def torch_step_time(x, y, weights, steps: int) -> float:
    """Best seconds per step of the same model in PyTorch eager."""
    model = torch.nn.Sequential(torch.nn.Linear(x.shape[1], weights[0].shape[0]), torch.nn.ReLU(),
                                torch.nn.Linear(weights[0].shape[0], weights[2].shape[0]))
    with torch.no_grad():
        for p, w in zip(model.parameters(), weights):
            p.copy_(torch.from_numpy(w.copy()))
    opt = torch.optim.SGD(model.parameters(), lr=0.05)
    xt, yt = torch.from_numpy(x), torch.from_numpy(y)
    best = float("inf")
    for _ in range(steps):
        t0 = time.perf_counter()
        opt.zero_grad()
        loss = torch.nn.functional.cross_entropy(model(xt), yt)
        loss.backward()
        opt.step()
        loss.item()
        best = min(best, time.perf_counter() - t0)
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--hidden", type=int, default=512)
    parser.add_argument("--kernels", action="store_true", help="per-kernel breakdown of the llvm step")
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    x = rng.standard_normal((args.batch, 784), dtype=np.float32)
    y = rng.integers(0, 10, args.batch).astype(np.int64)
    bound1, bound2 = 1 / np.sqrt(784), 1 / np.sqrt(args.hidden)
    weights = [rng.uniform(-bound1, bound1, (args.hidden, 784)).astype(np.float32),
               rng.uniform(-bound1, bound1, args.hidden).astype(np.float32),
               rng.uniform(-bound2, bound2, (10, args.hidden)).astype(np.float32),
               rng.uniform(-bound2, bound2, 10).astype(np.float32)]
    load = ", ".join(f"{x:.2f}" for x in os.getloadavg())  # timings mean little on a busy machine
    print(f"two-layer MLP 784-{args.hidden}-10, batch {args.batch}, SGD; best of {args.steps} steps; "
          f"load average {load}")
    theirs = torch_step_time(x, y, weights, args.steps) if torch is not None else float("nan")
    for backend in ("llvm", "numpy"):
        ours, kernels, ops = lt_step_time(backend, x, y, weights, args.steps)
        print(f"lazytensor ({backend:5}): {ours * 1e3:8.2f} ms/step, {kernels} kernels for {ops} primitive ops;"
              f" torch eager {theirs * 1e3:.2f} ms/step; ratio {ours / theirs:.2f}")
    if args.kernels:
        kernel_breakdown(x, y, weights, args.steps)


if __name__ == "__main__":
    main()
