"""Save and load throughput of a 256 MB state dict: `lt.save`/`lt.load` beside `torch.save`/`torch.load`.

    python benchmarks/serialization.py [--mb 256] [--repeats 5] [--dir DIR]

The state dict is a transformer-like mix (large matrices, small biases and norms, float32). Each
figure is the median (and the best) of the repeats, in the same process, on the same files'
directory, the libraries taking turns (warm page cache: this measures the library, not the
disk), each run after an untimed os.sync() so no run pays for the data another left dirty.
Loads are complete: `lt.load` returns tensors whose storages are read (`mmap=False`) or mapped
(`mmap=True`); nothing is left to read lazily.

`lt.save` to a path is durable: it writes a temporary file, starts the disk's writeback of each
16 MB as it is written (sync_file_range), fdatasyncs it, and renames it into place (its atomic
save). torch.save does none of that, so the table shows `lt.save` both ways: "save" (durable)
and "save (no fsync)" (no early writeback, no fdatasync: the same work as torch.save), both
beside torch.save. Goals (issue 7): within 1.2x torch's time; an mmap load under 50 ms.
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
from lazytensor.runtime import serialization as lt_serialization

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


def run_times(fns: dict, repeats: int) -> dict:
    """Seconds of each run of each function; the functions take turns in every round, so the page
    cache and the allocator's state (fresh pages fault; reused ones don't) favour none of them."""
    times: dict = {name: [] for name in fns}
    for _ in range(repeats):
        for name, fn in fns.items():
            # Dead tensors' storages are freed at the next flush (the IR table drops unused nodes
            # then); a real program flushes all the time, a loop of loads alone never would.
            (lt.ones(1) + 1).item()
            # what earlier runs left dirty goes to the disk now, untimed: a durable save's
            # fdatasync would otherwise wait for the other runs' data too (ext4 commits them first)
            os.sync()
            start = time.perf_counter()
            out = fn()
            times[name].append(time.perf_counter() - start)
            del out
    return times


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
            # the same work as torch.save: no writeback started early, no fdatasync
            with mock.patch("os.fsync", lambda fd: None), mock.patch("os.fdatasync", lambda fd: None), \
                    mock.patch.object(lt_serialization, "_start_writeback", lambda fh: None):
                lt.save(lt_sd, lt_path)

        fns = {("save", "lt"): lambda: lt.save(lt_sd, lt_path), ("save (no fsync)", "lt"): lt_save_no_fsync}
        if torch is not None:
            t_sd = collections.OrderedDict((k, torch.from_numpy(a)) for k, a in arrays.items())
            fns[("save", "torch")] = lambda: torch.save(t_sd, torch_path)
        saves = run_times(fns, args.repeats)
        fns = {("load", "lt"): lt_load, ("load mmap=True", "lt"): lambda: lt_load(mmap=True)}
        if torch is not None:
            fns[("load", "torch")] = lambda: torch.load(torch_path, weights_only=True)
            fns[("load mmap=True", "torch")] = lambda: torch.load(torch_path, weights_only=True, mmap=True)
        loads = run_times(fns, args.repeats)
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

    print(f"state dict: {len(arrays)} float32 tensors, {nbytes / 2**20:.0f} MB; median and best of {args.repeats} "
          f"runs, taking turns; {'torch ' + torch.__version__ if torch else 'torch not installed'}; load average "
          f"{' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    print(f"{'':18} {'lazytensor':>12} {'torch':>12} {'lt/torch':>9} {'lt GB/s':>8} {'best: lt':>10} {'torch':>9} "
          f"{'lt/torch':>9}")
    for name, ts, ref_ts in rows:
        secs, best = statistics.median(ts), min(ts)
        if ref_ts:
            ref, ref_best = statistics.median(ref_ts), min(ref_ts)
            cells = f"{ref * 1e3:9.1f} ms {secs / ref:8.2f}x"
            best_cells = f"{best * 1e3:7.1f} ms {ref_best * 1e3:6.1f} ms {best / ref_best:8.2f}x"
        else:
            cells = f"{'-':>12} {'-':>9}"
            best_cells = f"{best * 1e3:7.1f} ms {'-':>9} {'-':>9}"
        print(f"{name:18} {secs * 1e3:9.1f} ms {cells} {nbytes / secs / 1e9:8.2f} {best_cells}")


if __name__ == "__main__":
    main()
