"""Save and load throughput of a 256 MB state dict: `lt.save`/`lt.load` beside `torch.save`/`torch.load`.

    python benchmarks/serialization.py [--mb 256] [--repeats 5] [--dir DIR]

The state dict is a transformer-like mix (large matrices, small biases and norms, float32). Each
figure is the median of the repeats, in the same process, on the same files' directory (warm page
cache: this measures the library, not the disk). Loads are complete: `lt.load` returns tensors
whose storages are read (`mmap=False`) or mapped (`mmap=True`); nothing is left to read lazily.
`lt.save` also fsyncs the file before renaming it into place (its atomic save); torch.save does
neither, so the table shows `lt.save` both ways. Goals (issue 7): within 1.2x torch's time; an
mmap load under 50 ms.
"""
from __future__ import annotations

import argparse
import collections
import os
import statistics
import tempfile
import time
from unittest import mock

import numpy as np

import lazytensor as lt

try:
    import torch
except ImportError:  # torch is optional: the table then shows lazytensor alone
    torch = None


def state_dict(total_mb: int) -> collections.OrderedDict:
    """Float32 arrays totalling `total_mb` MB: per block a 1024x1024 weight, a 1024x4096 pair, biases."""
    rng = np.random.default_rng(0)
    out = collections.OrderedDict()
    budget = total_mb * (1 << 20) // 4
    i = 0
    while budget > 0:
        for name, shape in ((f"blocks.{i}.attn.weight", (1024, 1024)), (f"blocks.{i}.attn.bias", (1024,)),
                            (f"blocks.{i}.mlp.up", (4096, 1024)), (f"blocks.{i}.mlp.down", (1024, 4096)),
                            (f"blocks.{i}.norm.weight", (1024,))):
            n = min(int(np.prod(shape)), budget)
            if n <= 0:
                break
            if n != int(np.prod(shape)):
                shape = (n,)
            out[name] = rng.standard_normal(shape, dtype=np.float32)
            budget -= n
        i += 1
    return out


def median_times(fns: dict, repeats: int) -> dict:
    """Median seconds of each function; the functions take turns in every round, so the page
    cache and the allocator's state (fresh pages fault; reused ones don't) favour none of them."""
    times: dict = {name: [] for name in fns}
    for _ in range(repeats):
        for name, fn in fns.items():
            # Dead tensors' storages are freed at the next flush (the IR table drops unused nodes
            # then); a real program flushes all the time, a loop of loads alone never would.
            (lt.ones(1) + 1).item()
            start = time.perf_counter()
            out = fn()
            times[name].append(time.perf_counter() - start)
            del out
    return {name: statistics.median(ts) for name, ts in times.items()}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--mb", type=int, default=256)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--dir", default=None, help="where the files go (default: a temporary directory)")
    args = ap.parse_args()

    arrays = state_dict(args.mb)
    nbytes = sum(a.nbytes for a in arrays.values())
    lt_sd = collections.OrderedDict((k, lt.from_numpy(a)) for k, a in arrays.items())
    with tempfile.TemporaryDirectory(dir=args.dir) as d:
        lt_path, torch_path = os.path.join(d, "lt.pt"), os.path.join(d, "torch.pt")
        rows = []

        def lt_load(**kw):
            sd = lt.load(lt_path, **kw)
            for t in sd.values():
                t.untyped_storage()  # the storage exists (it does at once: loads are not lazy)
            return sd

        def lt_save_no_fsync():
            with mock.patch("os.fsync", lambda fd: None):
                lt.save(lt_sd, lt_path)

        fns = {("save", "lt"): lambda: lt.save(lt_sd, lt_path), ("save (no fsync)", "lt"): lt_save_no_fsync}
        if torch is not None:
            t_sd = collections.OrderedDict((k, torch.from_numpy(a)) for k, a in arrays.items())
            fns[("save", "torch")] = lambda: torch.save(t_sd, torch_path)
        saves = median_times(fns, args.repeats)
        fns = {("load", "lt"): lt_load, ("load mmap=True", "lt"): lambda: lt_load(mmap=True)}
        if torch is not None:
            fns[("load", "torch")] = lambda: torch.load(torch_path, weights_only=True)
            fns[("load mmap=True", "torch")] = lambda: torch.load(torch_path, weights_only=True, mmap=True)
        loads = median_times(fns, args.repeats)
        timed = saves | loads
        results = {name: secs for (name, lib), secs in timed.items() if lib == "lt"}
        base = {name: secs for (name, lib), secs in timed.items() if lib == "torch"}
        if torch is not None:
            base["save (no fsync)"] = base["save"]
            # files from either library load in the other, with equal values (a check, not timed)
            cross = torch.load(lt_path, weights_only=True)
            back = lt.load(torch_path)
            for k, a in arrays.items():
                assert np.array_equal(cross[k].numpy(), a) and np.array_equal(back[k].numpy(), a), k
        for name, secs in results.items():
            rows.append((name, secs, base.get(name)))

    print(f"state dict: {len(arrays)} float32 tensors, {nbytes / 2**20:.0f} MB; median of {args.repeats}; "
          f"{'torch ' + torch.__version__ if torch else 'torch not installed'}")
    print(f"{'':18} {'lazytensor':>12} {'torch':>12} {'lt/torch':>9} {'lt GB/s':>8}")
    for name, secs, ref in rows:
        ratio = f"{secs / ref:8.2f}x" if ref else "       -"
        ref_s = f"{ref * 1e3:9.1f} ms" if ref else "           -"
        print(f"{name:18} {secs * 1e3:9.1f} ms {ref_s} {ratio} {nbytes / secs / 1e9:8.2f}")


if __name__ == "__main__":
    main()
