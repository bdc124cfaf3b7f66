"""DataLoader throughput: worker speed-up on a CPU-bound dataset, and per-batch overhead on big batches.

    python benchmarks/dataloader.py [--repeat 5]

1. A dataset whose `__getitem__` costs ~1 ms of CPU work (pure Python arithmetic, which holds the
   GIL, so only processes help): batches/s with num_workers=0 and num_workers=2 (goal >= 1.7x),
   the latter both in steady state (persistent workers) and with the workers started each epoch
   (their start-up is then part of every epoch), for lazytensor and, where installed, torch.
2. Large tensor batches (256 x 3x64x64 float32, 12.6 MB) from a dataset whose samples cost almost
   nothing: the time per batch is the loader's own overhead (fetch, collate, transfer between
   processes). Measured for lazytensor and, where installed, torch's DataLoader in the same run,
   the two taking turns epoch by epoch; both drop each batch at once.
3. The same images as one tensor in a TensorDataset (samples are rows), num_workers=0.

Each figure is measured `--repeat` times; the best and the spread (max - min) are printed, since
other processes on the machine disturb single runs.
"""
from __future__ import annotations

import argparse
import os
import time

import numpy as np

import lazytensor as lt
from lazytensor.utils.data import DataLoader, Dataset, TensorDataset

try:
    import torch
    import torch.utils.data as tud
except ImportError:  # pragma: no cover
    torch = None


def _burn(ms: float) -> int:
    """About `ms` milliseconds of pure-Python CPU work (calibrated once)."""
    acc = 0
    for i in range(int(_LOOPS_PER_MS * ms)):
        acc = (acc * 31 + i) & 0xFFFF
    return acc


def _calibrate() -> float:
    n = 200_000
    t = time.perf_counter()
    acc = 0
    for i in range(n):
        acc = (acc * 31 + i) & 0xFFFF
    return n / ((time.perf_counter() - t) * 1000)


_LOOPS_PER_MS = _calibrate()


class CpuDataset(Dataset):
    """Each sample costs ~1 ms of CPU."""

    def __init__(self, n: int, make) -> None:
        self.n, self.make = n, make

    def __len__(self) -> int:
        return self.n

    def __getitem__(self, i):
        return self.make([float(_burn(1.0)), float(i)])


class ImageDataset(Dataset):
    """Precomputed 3x64x64 float32 images, one tensor each: a sample costs nothing, so the time per
    batch is the loader's own (collate into one 12.6 MB tensor, hand-over between processes)."""

    def __init__(self, n: int, as_tensor) -> None:
        rng = np.random.default_rng(0)
        self.images = [as_tensor(rng.random((3, 64, 64), dtype=np.float32)) for _ in range(n)]

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, i):
        return self.images[i]


def _time_epoch(loader) -> tuple[float, int]:
    t = time.perf_counter()
    n = 0
    for batch in loader:
        n += 1
        del batch
    return time.perf_counter() - t, n


def _measure(make_loader, repeat: int) -> list[float]:
    """Seconds per batch for `repeat` epochs (workers started per epoch, as by default)."""
    out = []
    for _ in range(repeat):
        seconds, n = _time_epoch(make_loader())
        out.append(seconds / n)
    return out


def _report(name: str, per_batch: list[float]) -> float:
    best = min(per_batch)
    spread = max(per_batch) - best
    print(f"  {name:<44} best {1 / best:8.1f} batches/s ({best * 1e3:7.2f} ms/batch), "
          f"spread {spread * 1e3:6.2f} ms over {len(per_batch)} runs")
    return best


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--cpu-samples", type=int, default=512)
    ap.add_argument("--image-batches", type=int, default=24)
    args = ap.parse_args()

    print(f"CPU-bound dataset (~1 ms per sample, batch_size=16, {args.cpu_samples} samples), "
          f"{os.cpu_count()} CPUs; 'steady' reuses a loader with persistent workers (started and "
          "warmed once), 'per epoch' starts the workers every epoch (the default):")
    libraries = {"lazytensor": (lt.tensor, DataLoader)}
    if torch is not None:
        libraries["torch"] = (torch.tensor, tud.DataLoader)
    for lib, (make, loader_class) in libraries.items():
        ds = CpuDataset(args.cpu_samples, make)
        t0 = _report(f"{lib} num_workers=0", _measure(lambda: loader_class(ds, batch_size=16), args.repeat))
        t2 = _report(f"{lib} num_workers=2, per epoch",
                     _measure(lambda: loader_class(ds, batch_size=16, num_workers=2), args.repeat))
        steady = loader_class(ds, batch_size=16, num_workers=2, persistent_workers=True)
        _time_epoch(steady)  # the workers start here, untimed
        t2s = _report(f"{lib} num_workers=2, steady", _measure(lambda: steady, args.repeat))
        del steady
        print(f"  {lib} speed-up with 2 workers: steady {t0 / t2s:.2f}x, per epoch {t0 / t2:.2f}x"
              + (" (goal >= 1.7x)" if lib == "lazytensor" else ""))

    n = 256 * args.image_batches
    print(f"\nLarge batches (256 x 3x64x64 float32 = 12.6 MB per batch, {args.image_batches} batches; "
          "both libraries: the same images, batch_size=256, each batch dropped at once):")
    ids = ImageDataset(n, lt.from_numpy)
    tds = ImageDataset(n, torch.from_numpy) if torch is not None else None
    results = {}
    for w in (0, 2):
        makers = {"lt": lambda: DataLoader(ids, batch_size=256, num_workers=w)}
        if torch is not None:
            makers["torch"] = lambda: tud.DataLoader(tds, batch_size=256, num_workers=w)
        # the libraries take turns, epoch by epoch, so a burst of load elsewhere hits both alike
        times: dict = {lib: [] for lib in makers}
        for _ in range(args.repeat):
            for lib, make in makers.items():
                times[lib] += _measure(make, 1)
        for lib in makers:
            name = "lazytensor" if lib == "lt" else "torch     "
            results[(lib, w)] = _report(f"{name} num_workers={w}", times[lib])
    if torch is not None:
        for w in (0, 2):
            print(f"  per-batch time (best of {args.repeat}), lazytensor / torch, num_workers={w}: "
                  f"{results[('lt', w)] / results[('torch', w)]:.2f} (goal <= 1)")

    # the same images as one tensor: TensorDataset, whose samples are rows (views) of it
    images = np.random.default_rng(0).random((n, 3, 64, 64), dtype=np.float32)
    print("\nTensorDataset of the same images (one tensor, num_workers=0):")
    makers = {"lt": lambda: DataLoader(TensorDataset(lt.from_numpy(images)), batch_size=256)}
    if torch is not None:
        makers["torch"] = lambda: tud.DataLoader(tud.TensorDataset(torch.from_numpy(images)), batch_size=256)
    times = {lib: [] for lib in makers}
    for _ in range(args.repeat):
        for lib, make in makers.items():
            times[lib] += _measure(make, 1)
    best = {lib: _report(f"{'lazytensor' if lib == 'lt' else 'torch     '} num_workers=0", ts)
            for lib, ts in times.items()}
    if torch is not None:
        print(f"  per-batch time (best of {args.repeat}), lazytensor / torch: {best['lt'] / best['torch']:.2f}")
    print(f"  load average: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")


if __name__ == "__main__":
    main()
