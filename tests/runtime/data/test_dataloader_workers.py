"""DataLoader with worker processes: batch order, shared-memory hand-over, seeding, persistent
workers, iterable datasets split across workers, and failures that end within seconds with no
child process left."""
import ctypes
import multiprocessing as mp
import os
import random
import signal
import subprocess
import sys
import textwrap
import time

import numpy as np
import pytest

import lazytensor as lt
from lazytensor.utils.data import DataLoader, Dataset, IterableDataset, get_worker_info
from lt_testing import torch


def _children() -> set:
    """Child pids of this process, from /proc (zombies included), but multiprocessing's resource
    tracker (a helper that the spawn start method starts once and keeps)."""
    from multiprocessing import resource_tracker
    out = set()
    for task in os.listdir(f"/proc/{os.getpid()}/task"):
        try:
            with open(f"/proc/{os.getpid()}/task/{task}/children") as f:
                out |= {int(p) for p in f.read().split()}
        except FileNotFoundError:
            pass
    return out - {resource_tracker._resource_tracker._pid}


@pytest.fixture(autouse=True)
def no_children_left():
    """Every test ends with no worker process alive (nor a zombie)."""
    before = _children()
    yield
    mp.active_children()  # reaps finished multiprocessing children
    deadline = time.monotonic() + 5
    while _children() - before and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not (_children() - before), "worker processes were left behind"
    assert mp.active_children() == []


def _fds() -> int:
    return len(os.listdir("/proc/self/fd"))


class Squares(Dataset):
    def __init__(self, n=10):
        self.n = n

    def __len__(self):
        return self.n

    def __getitem__(self, i):
        return {"x": lt.tensor([float(i), i * i]), "i": i, "name": f"n{i}"}


def _plain(batches):
    return [{"x": b["x"].tolist(), "i": b["i"].tolist(), "name": b["name"]} for b in batches]


@pytest.mark.parametrize("kwargs", [dict(batch_size=3), dict(batch_size=4, drop_last=True), dict(batch_size=None),
                                    dict(sampler=[9, 0, 4, 4, 1], batch_size=2), dict(batch_size=2, prefetch_factor=1),
                                    dict(batch_sampler=[[3], [1, 2], [0, 5, 6]], num_workers=1)])
def test_workers_give_the_main_process_batches(kwargs):
    kwargs.setdefault("num_workers", 2)
    single = {k: v for k, v in kwargs.items() if k not in ("num_workers", "prefetch_factor")}
    expected = list(DataLoader(Squares(), **single))
    got = list(DataLoader(Squares(), **kwargs))
    if kwargs.get("batch_size", 1) is None:
        assert [b["x"].tolist() for b in got] == [b["x"].tolist() for b in expected]
    else:
        assert _plain(got) == _plain(expected)


@pytest.mark.skipif(torch is None, reason="needs torch")
def test_same_batches_as_torch_with_workers():
    class TorchSquares(torch.utils.data.Dataset):
        def __len__(self):
            return 10

        def __getitem__(self, i):
            return {"x": torch.tensor([float(i), i * i]), "i": i, "name": f"n{i}"}
    got = _plain(DataLoader(Squares(), batch_size=3, num_workers=2))
    theirs = [{"x": b["x"].tolist(), "i": b["i"].tolist(), "name": b["name"]}
              for b in torch.utils.data.DataLoader(TorchSquares(), batch_size=3, num_workers=2)]
    assert got == theirs


def test_batches_arrive_in_shared_memory():
    batch = next(iter(DataLoader(Squares(), batch_size=4, num_workers=1)))
    arr = batch["x"].numpy()
    address = arr.__array_interface__["data"][0]
    with open("/proc/self/maps") as f:
        regions = [line.split() for line in f]
    # mapped from the worker's block, not unpickled into private memory
    region = next(r for r in regions if int(r[0].split("-")[0], 16) <= address < int(r[0].split("-")[1], 16))
    assert "memfd:lazytensor-batch" in " ".join(region[5:])
    arr[0, 0] = 42.0  # writable, and the tensor sees it
    assert batch["x"][0, 0].item() == 42.0


def test_nothing_leaks_in_dev_shm_or_fds():
    shm_before = set(os.listdir("/dev/shm"))
    fds_before = _fds()
    for _ in range(2):
        for b in DataLoader(Squares(40), batch_size=4, num_workers=2):
            pass
        it = iter(DataLoader(Squares(40), batch_size=4, num_workers=2))
        next(it)
        del it  # dropped mid-epoch, batches still in flight
    assert set(os.listdir("/dev/shm")) == shm_before
    assert _fds() == fds_before


def test_large_batches_and_dtypes():
    class Images(Dataset):
        def __len__(self):
            return 64

        def __getitem__(self, i):
            img = lt.full((3, 32, 32), float(i))
            return img, lt.tensor(i, dtype=lt.int32), lt.tensor([i], dtype=lt.bfloat16), lt.tensor(i % 2 == 0)
    got = list(DataLoader(Images(), batch_size=16, num_workers=2))
    want = list(DataLoader(Images(), batch_size=16))
    assert len(got) == 4
    for g, w in zip(got, want):
        for a, b in zip(g, w):
            assert a.dtype is b.dtype and tuple(a.shape) == tuple(b.shape)
            np.testing.assert_array_equal(a.float().numpy(), b.float().numpy())


def test_custom_collate_outputs_travel():
    # non-contiguous, empty, requires_grad, many tensors (more blocks than one sendmsg carries) and
    # a big non-tensor payload (sent through a block too)
    def collate(batch):
        t = lt.arange(6.).reshape(2, 3).t() + batch[0]
        w = lt.ones(2).requires_grad_(True)
        many = {f"k{j}": lt.full((2,), float(j)) for j in range(300)}
        return {"t": t, "empty": lt.zeros((0, 3)), "w": w, "many": many, "text": ["x" * 1000] * 100}
    b = next(iter(DataLoader(list(range(4)), batch_size=2, num_workers=1, collate_fn=collate)))
    assert b["t"].tolist() == [[0., 3.], [1., 4.], [2., 5.]]
    assert tuple(b["empty"].shape) == (0, 3) and b["w"].requires_grad
    assert all(b["many"][f"k{j}"].tolist() == [float(j)] * 2 for j in range(300))
    assert b["text"] == ["x" * 1000] * 100


def test_lazy_samples_are_computed_in_the_worker():
    pending_in_parent = lt.tensor([1.0, 2.0]) * 5  # pending in the parent when the workers fork

    class Lazy(Dataset):
        def __len__(self):
            return 6

        def __getitem__(self, i):
            from lazytensor import lazy
            # the parent's pending graphs are not the worker's to flush
            inherited = any(t is pending_in_parent for t in lazy.live_pending())
            x = lt.tensor([float(i)]) * 2 + pending_in_parent  # reads a tensor pending in the parent
            y = lt.ones(2)
            y.add_(i)  # an in-place write: would flush every tracked pending graph
            return x, y, inherited
    got = list(DataLoader(Lazy(), batch_size=3, num_workers=2))
    assert [b[0].tolist() for b in got] == [[[5., 10.], [7., 12.], [9., 14.]], [[11., 16.], [13., 18.], [15., 20.]]]
    assert got[1][1].tolist() == [[4., 4.], [5., 5.], [6., 6.]]
    assert not any(b[2].any().item() for b in got)


class Seeds(Dataset):
    def __len__(self):
        return 8

    def __getitem__(self, i):
        info = get_worker_info()
        return (info.id, info.seed, info.num_workers, random.random(), float(np.random.rand()),
                lt.rand(1).item())


def _seed_rows(seed):
    g = lt.Generator().manual_seed(seed)
    rows = []
    for b in DataLoader(Seeds(), batch_size=2, num_workers=2, generator=g):
        rows += list(zip(*[v.tolist() if isinstance(v, lt.Tensor) else v for v in b]))
    return rows


def test_worker_seeding():
    rows = _seed_rows(3)
    by_worker = {}
    for wid, seed, nw, *r in rows:
        assert nw == 2
        by_worker.setdefault(wid, set()).add(seed)
    base = lt.empty((), dtype=lt.int64).random_(generator=lt.Generator().manual_seed(3)).item()
    assert by_worker == {0: {base}, 1: {base + 1}}
    # random transforms differ across workers ...
    first = {wid: tuple(r) for wid, _, _, *r in rows[::2]}
    assert first[0] != first[1]
    assert len({r[3] for r in rows}) == len(rows) and len({r[4] for r in rows}) == len(rows)
    # ... and repeat across runs with the same generator seed
    assert _seed_rows(3) == rows
    assert _seed_rows(4) != rows
    assert get_worker_info() is None


def test_worker_init_fn():
    def init(worker_id):
        info = get_worker_info()
        assert info.id == worker_id
        info.dataset.offset = 100 * (worker_id + 1)

    class Offset(Dataset):
        offset = 0

        def __len__(self):
            return 4

        def __getitem__(self, i):
            return i + self.offset
    got = [b.tolist() for b in DataLoader(Offset(), batch_size=1, num_workers=2, worker_init_fn=init)]
    assert got == [[100], [201], [102], [203]]  # tasks go round-robin: batch k to worker k % 2


class Shards(IterableDataset):
    """Each worker yields its share: start + worker id, stepping by the number of workers."""

    def __init__(self, n):
        self.n = n

    def __iter__(self):
        info = get_worker_info()
        wid, nw = (0, 1) if info is None else (info.id, info.num_workers)
        return iter(range(wid, self.n, nw))


@pytest.mark.parametrize("bs, drop", [(2, False), (3, True), (None, False)])
def test_iterable_dataset_split_across_workers(bs, drop):
    got = [b if isinstance(b, int) else b.tolist() for b in DataLoader(Shards(11), batch_size=bs, drop_last=drop,
                                                                       num_workers=2)]
    flat = sorted(x for b in got for x in (b if isinstance(b, list) else [b]))
    if not drop:
        assert flat == list(range(11))
    if torch is not None:
        class TorchShards(torch.utils.data.IterableDataset):
            n = 11

            def __iter__(self):
                info = torch.utils.data.get_worker_info()
                return iter(range(info.id, self.n, info.num_workers))
        theirs = [b if isinstance(b, int) else b.tolist() for b in torch.utils.data.DataLoader(
            TorchShards(), batch_size=bs, drop_last=drop,
                                                                  num_workers=2)]
        assert got == theirs


def test_in_order_false_yields_every_batch():
    class Uneven(Dataset):
        def __len__(self):
            return 12

        def __getitem__(self, i):
            time.sleep(0.02 if i < 3 else 0)
            return i
    got = [b.tolist() for b in DataLoader(Uneven(), batch_size=3, num_workers=2, in_order=False)]
    assert sorted(sum(got, [])) == list(range(12))
    assert got[0] != [0, 1, 2]  # the slow first batch did not hold the others back


def test_persistent_workers():
    class Pids(Dataset):
        def __len__(self):
            return 6

        def __getitem__(self, i):
            return os.getpid()
    dl = DataLoader(Pids(), batch_size=2, num_workers=2, persistent_workers=True)
    first = {p for b in dl for p in b.tolist()}
    second = {p for b in dl for p in b.tolist()}
    assert first == second and len(first) == 2
    it = iter(dl)
    next(it)  # stop mid-epoch: the next epoch starts over cleanly
    assert len(list(dl)) == 3
    it = iter(DataLoader(Shards(5), batch_size=2, num_workers=2, persistent_workers=True))
    dl2 = DataLoader(Shards(5), batch_size=2, num_workers=2, persistent_workers=True)
    assert [b.tolist() for b in dl2] == [b.tolist() for b in dl2] == [[0, 2], [1, 3], [4]]
    del dl, dl2, it


# ---- failures ----

class Failing(Dataset):
    def __init__(self, how, at=5):
        self.how, self.at = how, at

    def __len__(self):
        return 12

    def __getitem__(self, i):
        if i == self.at:
            if self.how == "raise":
                raise ValueError(f"bad sample {i}")
            if self.how == "keyerror":
                raise KeyError("nope")
            if self.how == "kill":
                os.kill(os.getpid(), signal.SIGKILL)
            if self.how == "segfault":
                ctypes.string_at(0)
            if self.how == "exit":
                os._exit(3)
            if self.how == "hang":
                time.sleep(60)
        return i


def test_exception_in_getitem_is_reraised_with_traceback_and_index():
    t = time.monotonic()
    with pytest.raises(ValueError) as e:
        list(DataLoader(Failing("raise"), batch_size=2, num_workers=2))
    msg = str(e.value)
    assert "Caught ValueError in DataLoader worker process 0 while fetching index 5 (of the batch [4, 5])" in msg
    assert "Original Traceback (most recent call last):" in msg and "bad sample 5" in msg
    assert 'raise ValueError(f"bad sample {i}")' in msg
    del e
    assert time.monotonic() - t < 5


def test_iteration_goes_on_after_a_worker_exception():
    it = iter(DataLoader(Failing("raise"), batch_size=2, num_workers=2))
    got = []
    while True:
        try:
            got.append(next(it).tolist())
        except ValueError:
            got.append("error")
        except StopIteration:
            break
    assert got == [[0, 1], [2, 3], "error", [6, 7], [8, 9], [10, 11]]


def test_key_error_message_prints_as_written():
    with pytest.raises(KeyError) as e:
        list(DataLoader(Failing("keyerror"), batch_size=2, num_workers=1))
    assert str(e.value).startswith("Caught KeyError in DataLoader worker process 0")


def test_unpicklable_exception_class():
    class Local(Exception):
        pass

    class Bad(Dataset):
        def __len__(self):
            return 2

        def __getitem__(self, i):
            raise Local("local")
    with pytest.raises(RuntimeError, match="Local .*not picklable"):
        list(DataLoader(Bad(), num_workers=1))


@pytest.mark.parametrize("how, detail", [("kill", r"Killed \(SIGKILL\)"), ("segfault", r"\(SIGSEGV\)"),
                                         ("exit", "exit code 3")])
def test_dead_worker_raises_at_once(how, detail):
    t = time.monotonic()
    with pytest.raises(RuntimeError, match=r"DataLoader worker \(pid \d+\) exited unexpectedly .*" + detail):
        list(DataLoader(Failing(how), batch_size=2, num_workers=2))
    assert time.monotonic() - t < 5


def test_timeout():
    t = time.monotonic()
    with pytest.raises(RuntimeError, match="DataLoader timed out after 0.5 seconds"):
        list(DataLoader(Failing("hang", at=3), batch_size=2, num_workers=2, timeout=0.5))
    assert time.monotonic() - t < 5


def test_workers_stop_when_the_iterator_is_dropped():
    it = iter(DataLoader(Failing("hang", at=11), batch_size=1, num_workers=2))
    assert next(it).tolist() == [0]
    pids = [w.pid for w in it._workers]
    assert all(os.path.exists(f"/proc/{p}") for p in pids)
    t = time.monotonic()
    del it
    assert time.monotonic() - t < 5


_SCRIPT = textwrap.dedent("""
    import os, sys, time
    import lazytensor as lt
    from lazytensor.utils.data import DataLoader, Dataset
    class Slow(Dataset):
        def __len__(self): return 100
        def __getitem__(self, i):
            time.sleep(0.05)
            return i
    it = iter(DataLoader(Slow(), batch_size=1, num_workers=2))
    next(it)
    print(" ".join(str(w.pid) for w in it._workers), flush=True)
    if sys.argv[1] == "kill-self":
        os.kill(os.getpid(), 9)
    # else: exit with the iterator alive, no cleanup by the user
""")


def _alive(pid):
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split()[2] != "Z"
    except FileNotFoundError:
        return False


@pytest.mark.parametrize("how", ["exit", "kill-self"])
def test_no_orphans_when_the_main_process_ends(how):
    p = subprocess.run([sys.executable, "-c", _SCRIPT, how], capture_output=True, text=True, timeout=60)
    pids = [int(x) for x in p.stdout.split()]
    assert len(pids) == 2, p.stderr
    deadline = time.monotonic() + 5
    while any(_alive(pid) for pid in pids) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not any(_alive(pid) for pid in pids)


class Picklable(Dataset):
    def __len__(self):
        return 4

    def __getitem__(self, i):
        return lt.tensor([i]) * 3


def test_spawn_context():
    got = [b.tolist() for b in DataLoader(Picklable(), batch_size=2, num_workers=1, multiprocessing_context="spawn")]
    assert got == [[[0], [3]], [[6], [9]]]


def test_reused_blocks_never_overwrite_held_batches():
    # workers build batches in a few blocks they reuse once the main process drops a batch:
    # a batch still held (or a numpy view of it) must keep its values
    class Rows(Dataset):
        def __len__(self):
            return 16 * 24

        def __getitem__(self, i):
            return lt.full((1024,), float(i))
    held, views = [], []
    for k, b in enumerate(DataLoader(Rows(), batch_size=16, num_workers=2)):
        assert b[:, 0].tolist() == [float(k * 16 + j) for j in range(16)]
        if k % 5 == 0:
            held.append((k, b))
        elif k % 7 == 0:
            views.append((k, b.numpy()))
        del b
    for k, b in held:
        assert b[:, -1].tolist() == [float(k * 16 + j) for j in range(16)]
    for k, v in views:
        assert v[:, 3].tolist() == [float(k * 16 + j) for j in range(16)]
