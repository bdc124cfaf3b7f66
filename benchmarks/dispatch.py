"""Per-op dispatch cost: building one lazy op node on a small tensor, beside PyTorch eager's cost for
the same op on the same machine, in one process.

    python benchmarks/dispatch.py [--ops N] [--repeats R]

Each op is applied in a chain (every call builds a new node: no hash-consing hits) and the chain is
flushed outside the timed region, so the figure is the cost of the Python-side op call itself. The
goal (issue 2) is at most 2x PyTorch's per-op time.
"""
from __future__ import annotations

import argparse
import statistics
import time

import lazytensor as lt

try:
    import torch
except ImportError:  # torch is optional: the table then shows lazytensor alone
    torch = None

# name -> op applied to the chain value `z` and a same-shaped tensor `y`
OPS = {
    "add (tensor + tensor)": lambda z, y: z + y,
    "mul (tensor * 0.5)": lambda z, y: z * 0.5,
    "exp": lambda z, y: z.exp(),
    "relu": lambda z, y: z.relu(),
    "where(z > 0, z, y)": None,  # filled per library below
    "sum(dim=1, keepdim) + y": lambda z, y: z.sum(1, keepdim=True) + y,
    "transpose (view)": lambda z, y: z.t(),
    "matmul 4x4": lambda z, y: z @ y,
}


def _where(lib):
    return lambda z, y: lib.where(z > 0, z, y)


def time_chain(op, start, y, n: int, repeats: int, flush) -> float:
    """Best-of-repeats seconds per op for a chain of n applications."""
    best = []
    for _ in range(repeats):
        z = start
        t0 = time.perf_counter()
        for _ in range(n):
            z = op(z, y)
        t1 = time.perf_counter()
        flush(z)
        best.append((t1 - t0) / n)
    return min(best) if best else float("nan")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ops", type=int, default=2000, help="ops per timed chain")
    parser.add_argument("--repeats", type=int, default=7, help="chains per op (best is kept)")
    args = parser.parse_args()
    lt.config.set(MAX_PENDING=10 * args.ops)  # no automatic flush inside a timed chain

    rows = []
    for name, op in OPS.items():
        lt_op = op or _where(lt)
        x, y = lt.ones(4, 4), lt.full((4, 4), 0.5)
        x.realize(), y.realize()
        ours = time_chain(lt_op, x, y, args.ops, args.repeats, lambda z: z.realize())
        theirs = float("nan")
        if torch is not None:
            t_op = op or _where(torch)
            tx, ty = torch.ones(4, 4), torch.full((4, 4), 0.5)
            theirs = time_chain(t_op, tx, ty, args.ops, args.repeats, lambda z: None)
        rows.append((name, ours, theirs))

    print(f"{'op':<24}{'lazytensor us':>15}{'torch eager us':>16}{'ratio':>8}")
    for name, ours, theirs in rows:
        print(f"{name:<24}{ours * 1e6:>15.2f}{theirs * 1e6:>16.2f}{ours / theirs:>8.2f}")
    ratios = [o / t for _, o, t in rows if t == t]
    if ratios:
        print(f"geometric mean ratio (lazytensor / torch): {statistics.geometric_mean(ratios):.2f}  (goal <= 2.0)")


if __name__ == "__main__":
    main()
