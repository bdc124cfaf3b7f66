"""nn.init and default layer initialisations: PyTorch's distributions (checked statistically)."""
import math

import numpy as np
import pytest

import lazytensor as lt
from lazytensor import nn
from lt_testing import torch

needs_torch = pytest.mark.skipif(torch is None, reason="PyTorch is not installed")


def _values(t):
    return t.detach().numpy().astype(np.float64).ravel()


def _uniform_ok(v, bound):
    assert v.min() >= -bound and v.max() <= bound
    assert v.min() < -0.9 * bound and v.max() > 0.9 * bound  # fills the whole interval
    assert abs(v.std() - bound / math.sqrt(3)) < 0.05 * bound


@pytest.mark.parametrize("layer,fan_in", [(lambda: nn.Linear(300, 200), 300),
                                          (lambda: nn.Conv2d(8, 16, 3, groups=2), 4 * 9),
                                          (lambda: nn.Conv1d(6, 40, 5), 30)])
def test_default_linear_and_conv_init(layer, fan_in):
    lt.manual_seed(0)
    m = layer()
    # kaiming_uniform_(a=sqrt(5)): bound = sqrt(6 / ((1 + 5) * fan_in)) = 1 / sqrt(fan_in); bias the same
    bound = 1 / math.sqrt(fan_in)
    _uniform_ok(_values(m.weight), bound)
    b = _values(m.bias)
    assert b.min() >= -bound and b.max() <= bound


def test_other_default_inits():
    e = nn.Embedding(500, 40, padding_idx=3)
    v = _values(e.weight)
    assert abs(v.mean()) < 0.03 and abs(v.std() - 1) < 0.03
    assert e.weight[3].abs().sum().item() == 0
    ln, bn = nn.LayerNorm(5), nn.BatchNorm2d(5)
    for m in (ln, bn):
        assert m.weight.tolist() == [1.0] * 5 and m.bias.tolist() == [0.0] * 5
    assert bn.running_var.tolist() == [1.0] * 5 and bn.num_batches_tracked.item() == 0
    bl = nn.Bilinear(25, 4, 30)
    _uniform_ok(_values(bl.weight), 1 / 5)


@needs_torch
@pytest.mark.parametrize("args", [("linear",), ("conv2d",), ("sigmoid",), ("tanh",), ("relu",), ("leaky_relu",),
                                  ("leaky_relu", 0.2), ("selu",)])
def test_calculate_gain_matches_torch(args):
    assert nn.init.calculate_gain(*args) == torch.nn.init.calculate_gain(*args)


def test_calculate_gain_errors():
    with pytest.raises(ValueError, match="Unsupported nonlinearity foo"):
        nn.init.calculate_gain("foo")
    with pytest.raises(ValueError, match="fewer than 2 dimensions"):
        nn.init.xavier_uniform_(lt.empty(3))


def test_init_functions():
    t = lt.empty(400, 300)
    nn.init.uniform_(t, -2, 3)
    v = _values(t)
    assert v.min() >= -2 and v.max() <= 3 and abs(v.mean() - 0.5) < 0.05
    nn.init.normal_(t, 1.0, 2.0)
    v = _values(t)
    assert abs(v.mean() - 1) < 0.05 and abs(v.std() - 2) < 0.05
    nn.init.constant_(t, 0.5)
    assert (_values(t) == 0.5).all()
    nn.init.zeros_(t)
    assert (_values(t) == 0).all()
    nn.init.ones_(t)
    assert (_values(t) == 1).all()
    nn.init.xavier_uniform_(t, gain=2.0)
    _uniform_ok(_values(t), 2.0 * math.sqrt(6 / 700))
    nn.init.xavier_normal_(t)
    assert abs(_values(t).std() - math.sqrt(2 / 700)) < 0.01 * math.sqrt(2 / 700) * 5
    nn.init.kaiming_uniform_(t, nonlinearity="relu")
    _uniform_ok(_values(t), math.sqrt(2) * math.sqrt(3 / 300))
    nn.init.kaiming_normal_(t, mode="fan_out", nonlinearity="relu")
    assert abs(_values(t).std() - math.sqrt(2 / 400)) < 0.03 * math.sqrt(2 / 400)
    e = lt.empty(3, 4)
    nn.init.eye_(e)
    assert e.tolist() == np.eye(3, 4).tolist()


def test_init_on_parameter_keeps_it_a_leaf():
    p = nn.Parameter(lt.empty(20, 10))
    nn.init.kaiming_uniform_(p, a=math.sqrt(5))
    assert p.is_leaf and p.requires_grad and p.grad_fn is None


@pytest.mark.parametrize("mean,std,a,b", [(0.0, 1.0, -2.0, 2.0), (0.5, 0.2, 0.0, 1.0), (0.0, 1.0, 1.0, 3.0)])
def test_trunc_normal(mean, std, a, b):
    t = lt.empty(200, 200)
    nn.init.trunc_normal_(t, mean, std, a, b)
    v = _values(t)
    assert v.min() >= a and v.max() <= b
    # moments of the truncated normal
    from math import erf, exp, pi, sqrt
    al, be = (a - mean) / std, (b - mean) / std
    phi = lambda x: exp(-x * x / 2) / sqrt(2 * pi)  # noqa: E731
    Phi = lambda x: (1 + erf(x / sqrt(2))) / 2  # noqa: E731
    z = Phi(be) - Phi(al)
    m = mean + std * (phi(al) - phi(be)) / z
    var = std ** 2 * (1 + (al * phi(al) - be * phi(be)) / z - ((phi(al) - phi(be)) / z) ** 2)
    assert abs(v.mean() - m) < 0.01 * max(std, 1)
    assert abs(v.std() - math.sqrt(var)) < 0.01 * max(std, 1)
