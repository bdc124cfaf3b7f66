"""One SGD step of a two-layer MLP, flushed once, runs in fewer kernels than it has primitive ops:
forward, loss, backward and the parameter update fuse together because backward is IR too."""
import numpy as np

import lazytensor as lt
from lazytensor import config, lazy
from lazytensor.compiler.ir import toposort
from lazytensor.compiler.ops import ELEMENTWISE, REDUCE, Op
from lazytensor.compiler.passes import run_pipeline


def one_step(seed: int = 0):
    """Build (not run) one training step; returns the model and its pending tensors."""
    lt.manual_seed(seed)
    model = lt.nn.Sequential(lt.nn.Linear(32, 64), lt.nn.ReLU(), lt.nn.Linear(64, 10))
    opt = lt.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    x, y = lt.randn(16, 32), lt.randint(0, 10, (16,))
    lt.realize(x, y, *model.parameters())
    opt.zero_grad()
    loss = lt.nn.functional.cross_entropy(model(x), y)
    loss.backward()
    opt.step()
    return model, loss


def test_the_step_is_one_flush_of_fewer_kernels_than_primitive_ops():
    model, loss = one_step()
    pending = lazy.live_pending()
    ids = {id(t) for t in pending}
    assert id(loss) in ids and all(id(p) in ids for p in model.parameters())  # nothing ran yet
    outputs = [t.node for t in pending]
    compute = [n for n in toposort(outputs) if n.op in ELEMENTWISE or n.op in REDUCE or n.op is Op.GATHER]
    kernels = run_pipeline(outputs, "simplify,fuse,schedule").kernels
    assert len(kernels) < len(compute) / 2, (len(kernels), len(compute))


def test_the_fused_step_on_llvm_equals_the_numpy_oracle(capfd):
    results = {}
    for backend in ("numpy", "llvm"):
        config.set(BACKEND=backend, DEBUG=2 if backend == "llvm" else 0)
        model, loss = one_step()
        lt.realize(loss, *model.parameters())  # one flush: the loss and every updated parameter
        results[backend] = [loss.item()] + [p.detach().numpy().copy() for p in model.parameters()]
    schedule = capfd.readouterr().err
    assert "; schedule" in schedule  # LT_DEBUG=2 prints the kernels
    for ours, oracle in zip(results["llvm"], results["numpy"]):
        np.testing.assert_allclose(ours, oracle, rtol=1e-4, atol=1e-6)
