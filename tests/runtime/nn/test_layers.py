"""Every layer: repr, forward and backward equal PyTorch's given the same weights and inputs."""
import numpy as np
import pytest

import lazytensor as lt
from lt_testing import torch

pytestmark = pytest.mark.filterwarnings("ignore:Using padding=.same.:UserWarning")
needs_torch = pytest.mark.skipif(torch is None, reason="PyTorch is not installed")

# (constructor source evaluated with nn = lt.nn / torch.nn, input shape, integer inputs' range or None)
LAYERS = [
    ("nn.Identity()", (2, 3), None),
    ("nn.Linear(4, 3)", (2, 4), None),
    ("nn.Linear(4, 3, bias=False)", (5, 2, 4), None),
    ("nn.Flatten()", (2, 3, 4), None),
    ("nn.Flatten(0, 1)", (2, 3, 4), None),
    ("nn.Unflatten(1, (2, 3))", (4, 6), None),
    ("nn.ReLU()", (3, 4), None),
    ("nn.LeakyReLU(0.2)", (3, 4), None),
    ("nn.GELU()", (3, 4), None),
    ("nn.GELU(approximate='tanh')", (3, 4), None),
    ("nn.SiLU()", (3, 4), None),
    ("nn.ELU(alpha=0.5)", (3, 4), None),
    ("nn.Sigmoid()", (3, 4), None),
    ("nn.Tanh()", (3, 4), None),
    ("nn.Softmax(dim=1)", (3, 4), None),
    ("nn.LogSoftmax(dim=-1)", (3, 4), None),
    ("nn.Dropout(p=0.3)", (3, 4), None),  # compared in eval mode
    ("nn.LayerNorm(4)", (3, 4), None),
    ("nn.LayerNorm((3, 4), eps=1e-3, elementwise_affine=False)", (2, 3, 4), None),
    ("nn.BatchNorm1d(4)", (6, 4), None),
    ("nn.BatchNorm1d(3, momentum=0.3, affine=False)", (4, 3, 5), None),
    ("nn.BatchNorm2d(3)", (2, 3, 4, 4), None),
    ("nn.Conv1d(3, 4, 3)", (2, 3, 9), None),
    ("nn.Conv1d(4, 6, 3, stride=2, padding=2, dilation=2, groups=2)", (2, 4, 11), None),
    ("nn.Conv1d(2, 3, 4, padding='same')", (2, 2, 7), None),
    ("nn.Conv2d(3, 4, 3)", (2, 3, 6, 6), None),
    ("nn.Conv2d(2, 4, (3, 2), stride=(2, 1), padding=(1, 2), bias=False)", (2, 2, 7, 6), None),
    ("nn.Conv2d(4, 4, 3, padding='same', dilation=2, groups=4)", (1, 4, 7, 7), None),
    ("nn.Conv2d(2, 2, 3, padding=1, padding_mode='reflect')", (1, 2, 5, 5), None),
    ("nn.Conv2d(3, 2, 2, padding='valid')", (3, 5, 5), None),  # unbatched
    ("nn.MaxPool2d(2)", (2, 3, 6, 6), None),
    ("nn.MaxPool2d(3, stride=2, padding=1, dilation=1, ceil_mode=True)", (1, 2, 7, 8), None),
    ("nn.MaxPool2d((2, 3), stride=1, dilation=2)", (1, 2, 7, 8), None),
    ("nn.AvgPool2d(2)", (2, 3, 6, 6), None),
    ("nn.AvgPool2d(3, stride=2, padding=1)", (1, 2, 7, 7), None),
    ("nn.AvgPool2d(3, stride=2, padding=1, count_include_pad=False, ceil_mode=True)", (1, 2, 8, 7), None),
    ("nn.AdaptiveAvgPool2d((1, 1))", (2, 3, 5, 5), None),
    ("nn.AdaptiveAvgPool2d((3, 2))", (2, 3, 7, 5), None),
    ("nn.Embedding(10, 3)", (2, 5), 10),
    ("nn.Embedding(10, 3, padding_idx=2)", (4, 5), 10),
]


def _copy_weights(tm, m):
    """Load torch's parameters and buffers into our module (via numpy)."""
    sd = {k: lt.tensor(v.detach().numpy().copy()) for k, v in tm.state_dict().items()}
    m.load_state_dict(sd)


def _input(shape, high, seed):
    rng = np.random.default_rng(seed)
    if high is not None:
        return rng.integers(0, high, size=shape).astype(np.int64)
    return rng.standard_normal(shape).astype(np.float32)


@needs_torch
@pytest.mark.parametrize("src,shape,high", LAYERS, ids=[s for s, _, _ in LAYERS])
def test_layer_matches_torch(src, shape, high):
    m, tm = eval(src, {"nn": lt.nn}), eval(src, {"nn": torch.nn})
    assert repr(m) == repr(tm)
    assert [n for n, _ in m.named_parameters()] == [n for n, _ in tm.named_parameters()]
    assert list(m.state_dict()) == list(tm.state_dict())
    _copy_weights(tm, m)
    if "Dropout" in src:
        m.eval()
        tm.eval()
    x0 = _input(shape, high, 0)
    x, tx = lt.tensor(x0), torch.tensor(x0)
    if high is None:
        x.requires_grad_(True)
        tx.requires_grad_(True)
    out, tout = m(x), tm(tx)
    np.testing.assert_allclose(out.detach().numpy(), tout.detach().numpy(), rtol=1e-4, atol=1e-5)
    g = _input(tuple(tout.shape), None, 1)
    out.backward(lt.tensor(g))
    tout.backward(torch.tensor(g))
    if high is None:
        np.testing.assert_allclose(x.grad.numpy(), tx.grad.numpy(), rtol=1e-4, atol=1e-5)
    for (name, p), (_, tp) in zip(m.named_parameters(), tm.named_parameters()):
        np.testing.assert_allclose(p.grad.numpy(), tp.grad.numpy(), rtol=1e-4, atol=1e-4, err_msg=name)
    # running statistics and counters move the same way
    for (name, b), (_, tb) in zip(m.named_buffers(), tm.named_buffers()):
        np.testing.assert_allclose(b.numpy(), tb.numpy(), rtol=1e-5, atol=1e-6, err_msg=name)


@needs_torch
@pytest.mark.parametrize("src", ["nn.BatchNorm1d(4)", "nn.BatchNorm1d(4, momentum=None)"])
def test_batchnorm_eval_after_training(src):
    m, tm = eval(src, {"nn": lt.nn}), eval(src, {"nn": torch.nn})
    for seed in range(3):
        x0 = _input((5, 4), None, seed) * (seed + 1) + seed
        m(lt.tensor(x0))
        tm(torch.tensor(x0))
    m.eval()
    tm.eval()
    x0 = _input((3, 4), None, 9)
    np.testing.assert_allclose(m(lt.tensor(x0)).detach().numpy(), tm(torch.tensor(x0)).detach().numpy(),
                               rtol=1e-5, atol=1e-5)
    assert int(m.num_batches_tracked) == 3


@needs_torch
@pytest.mark.parametrize("name,target", [("CrossEntropyLoss", "class"), ("NLLLoss", "class"), ("MSELoss", "same"),
                                         ("L1Loss", "same"), ("SmoothL1Loss", "same"), ("BCELoss", "prob"),
                                         ("BCEWithLogitsLoss", "prob")])
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_loss_modules_match_torch(name, target, reduction):
    m, tm = getattr(lt.nn, name)(reduction=reduction), getattr(torch.nn, name)(reduction=reduction)
    assert repr(m) == repr(tm)
    rng = np.random.default_rng(3)
    x0 = rng.standard_normal((4, 5)).astype(np.float32)
    if name == "BCELoss":
        x0 = 1 / (1 + np.exp(-x0))
    if name == "NLLLoss":
        x0 = x0 - np.log(np.exp(x0).sum(1, keepdims=True))
    t0 = {"class": rng.integers(0, 5, 4), "same": rng.standard_normal((4, 5)).astype(np.float32),
          "prob": rng.random((4, 5)).astype(np.float32)}[target]
    x, tx = lt.tensor(x0, requires_grad=True), torch.tensor(x0, requires_grad=True)
    out, tout = m(x, lt.tensor(t0)), tm(tx, torch.tensor(t0))
    np.testing.assert_allclose(out.detach().numpy(), tout.detach().numpy(), rtol=1e-5, atol=1e-6)
    out.sum().backward()
    tout.sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), tx.grad.numpy(), rtol=1e-5, atol=1e-6)


@needs_torch
def test_bilinear_matches_torch():
    m, tm = lt.nn.Bilinear(3, 4, 2), torch.nn.Bilinear(3, 4, 2)
    assert repr(m) == repr(tm)
    _copy_weights(tm, m)
    a0, b0 = _input((5, 3), None, 0), _input((5, 4), None, 1)
    a, b = lt.tensor(a0, requires_grad=True), lt.tensor(b0, requires_grad=True)
    ta, tb = torch.tensor(a0, requires_grad=True), torch.tensor(b0, requires_grad=True)
    out, tout = m(a, b), tm(ta, tb)
    np.testing.assert_allclose(out.detach().numpy(), tout.detach().numpy(), rtol=1e-5, atol=1e-5)
    out.sum().backward()
    tout.sum().backward()
    for ours, theirs in [(a.grad, ta.grad), (b.grad, tb.grad), (m.weight.grad, tm.weight.grad)]:
        np.testing.assert_allclose(ours.numpy(), theirs.numpy(), rtol=1e-5, atol=1e-5)


@needs_torch
def test_max_pool_indices_match_torch():
    x0 = _input((1, 2, 7, 8), None, 4)
    out, idx = lt.nn.functional.max_pool2d(lt.tensor(x0), 3, 2, 1, return_indices=True)
    tout, tidx = torch.nn.functional.max_pool2d(torch.tensor(x0), 3, 2, 1, return_indices=True)
    np.testing.assert_array_equal(out.numpy(), tout.numpy())
    np.testing.assert_array_equal(idx.numpy(), tidx.numpy())


def test_conv_against_numpy():
    """A direct loop over output positions, without torch."""
    rng = np.random.default_rng(0)
    x0, w0, b0 = rng.standard_normal((2, 3, 6, 5)), rng.standard_normal((4, 3, 3, 2)), rng.standard_normal(4)
    out = lt.nn.functional.conv2d(lt.tensor(x0), lt.tensor(w0), lt.tensor(b0), stride=(2, 1), padding=1)
    xp = np.pad(x0, ((0, 0), (0, 0), (1, 1), (1, 1)))
    ho, wo = (8 - 3) // 2 + 1, (7 - 2) + 1
    ref = np.zeros((2, 4, ho, wo))
    for i in range(ho):
        for j in range(wo):
            ref[:, :, i, j] = np.einsum("nchw,ochw->no", xp[:, :, 2 * i:2 * i + 3, j:j + 2], w0) + b0
    np.testing.assert_allclose(out.numpy(), ref, rtol=1e-10)


def test_layer_errors():
    with pytest.raises(ValueError, match="in_channels must be divisible by groups"):
        lt.nn.Conv2d(3, 4, 3, groups=2)
    with pytest.raises(ValueError, match="padding='same' is not supported for strided convolutions"):
        lt.nn.Conv2d(3, 4, 3, stride=2, padding="same")
    with pytest.raises(RuntimeError, match="expected input\\[2, 5, 6, 6\\] to have 3 channels"):
        lt.nn.Conv2d(3, 4, 3)(lt.ones(2, 5, 6, 6))
    with pytest.raises(ValueError, match="expected 4D input"):
        lt.nn.BatchNorm2d(3)(lt.ones(2, 3))
    with pytest.raises(ValueError, match="Expected more than 1 value per channel when training"):
        lt.nn.BatchNorm1d(3)(lt.ones(1, 3))
    with pytest.raises(ValueError, match="dropout probability has to be between 0 and 1"):
        lt.nn.Dropout(1.5)


def test_dropout_train_and_eval():
    m = lt.nn.Dropout(0.5)
    x = lt.ones(1000)
    y = m(x).numpy()
    assert set(np.unique(y)) <= {0.0, 2.0} and 300 < (y == 0).sum() < 700
    m.eval()
    assert m(x).tolist() == x.tolist()
