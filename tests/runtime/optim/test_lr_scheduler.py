"""Learning-rate schedulers: the lr after every step equals PyTorch's."""
import math

import numpy as np
import pytest

import lazytensor as lt
from lt_testing import torch

needs_torch = pytest.mark.skipif(torch is None, reason="PyTorch is not installed")

SCHEDULERS = [
    ("StepLR", dict(step_size=3, gamma=0.5)),
    ("MultiStepLR", dict(milestones=[2, 5, 5, 9], gamma=0.3)),
    ("ExponentialLR", dict(gamma=0.9)),
    ("CosineAnnealingLR", dict(T_max=7, eta_min=0.001)),
    ("LambdaLR", dict(lr_lambda=lambda e: 1 / (1 + e))),
    ("OneCycleLR", dict(max_lr=0.5, total_steps=25)),
    ("OneCycleLR", dict(max_lr=[0.5, 0.2], epochs=5, steps_per_epoch=5, three_phase=True,
                        anneal_strategy="linear")),
]


def _lrs(lib, name, kwargs, steps, opt_name="SGD"):
    p = lib.nn.Parameter(lib.ones(2))
    q = lib.nn.Parameter(lib.ones(2))
    opt = getattr(lib.optim, opt_name)([{"params": [p]}, {"params": [q], "lr": 0.05}], lr=0.1,
                                       **({"momentum": 0.9} if opt_name == "SGD" else {}))
    sched = getattr(lib.optim.lr_scheduler, name)(opt, **kwargs)
    out = [tuple(sched.get_last_lr())]
    moms = []
    for _ in range(steps):
        opt.step()
        sched.step()
        out.append(tuple(sched.get_last_lr()))
        g = opt.param_groups[0]
        moms.append(g.get("momentum", g.get("betas", (None,))[0]))
    return out, moms


@needs_torch
@pytest.mark.parametrize("name,kwargs", SCHEDULERS, ids=[f"{n}-{i}" for i, (n, _) in enumerate(SCHEDULERS)])
def test_schedule_matches_torch(name, kwargs):
    steps = 24 if name == "OneCycleLR" else 20
    ours, our_m = _lrs(lt, name, kwargs, steps)
    theirs, their_m = _lrs(torch, name, kwargs, steps)
    assert len(ours) == len(theirs)
    for a, b in zip(ours, theirs):
        assert a == pytest.approx(b, rel=1e-12, abs=1e-15)
    assert our_m == pytest.approx(their_m, rel=1e-12)


@needs_torch
def test_one_cycle_with_adam_cycles_beta1():
    ours, our_m = _lrs(lt, "OneCycleLR", dict(max_lr=0.3, total_steps=10), 9, opt_name="Adam")
    theirs, their_m = _lrs(torch, "OneCycleLR", dict(max_lr=0.3, total_steps=10), 9, opt_name="Adam")
    np.testing.assert_allclose(np.array(ours, dtype=float), np.array(theirs, dtype=float), rtol=1e-6)
    # momentum entries are (beta1, beta2) pairs for Adam: compare them flattened
    np.testing.assert_allclose(np.array(our_m, dtype=float), np.array(their_m, dtype=float), rtol=1e-6)


def test_one_cycle_too_many_steps():
    opt = lt.optim.SGD([lt.nn.Parameter(lt.ones(1))], lr=0.1, momentum=0.9)
    sched = lt.optim.lr_scheduler.OneCycleLR(opt, max_lr=1.0, total_steps=2)
    sched.step()
    sched.step()
    with pytest.raises(ValueError, match="Tried to step 3 times"):
        sched.step()


def _plateau(lib, metrics, **kwargs):
    opt = lib.optim.SGD([lib.nn.Parameter(lib.ones(1))], lr=1.0)
    sched = lib.optim.lr_scheduler.ReduceLROnPlateau(opt, **kwargs)
    out = []
    for m in metrics:
        sched.step(m)
        out.append(opt.param_groups[0]["lr"])
    return out


METRICS = [1.0, 0.9, 0.9, 0.95, 0.91, 0.9, 0.899999, 0.85, 0.86, 0.87, 0.88, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0]


@needs_torch
@pytest.mark.parametrize("kwargs", [dict(patience=2), dict(patience=1, cooldown=2, factor=0.5, min_lr=0.2),
                                    dict(mode="max", patience=1, threshold=0.05, threshold_mode="abs")])
def test_plateau_matches_torch(kwargs):
    assert _plateau(lt, METRICS, **kwargs) == pytest.approx(_plateau(torch, METRICS, **kwargs))


def test_plateau_without_torch():
    assert _plateau(lt, [1.0, 1.0, 1.0, 1.0], patience=1) == [1.0, 1.0, 0.1, 0.1]
    with pytest.raises(ValueError, match="Factor should be < 1.0"):
        _plateau(lt, [1.0], factor=2.0)


def test_step_lr_without_torch():
    opt = lt.optim.SGD([lt.nn.Parameter(lt.ones(1))], lr=1.0)
    sched = lt.optim.lr_scheduler.StepLR(opt, step_size=2, gamma=0.1)
    seen = []
    for _ in range(5):
        opt.step()
        sched.step()
        seen.append(sched.get_last_lr()[0])
    assert seen == pytest.approx([1.0, 0.1, 0.1, 0.01, 0.01])
    assert math.isclose(opt.param_groups[0]["initial_lr"], 1.0)
