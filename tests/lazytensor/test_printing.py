"""Tests for lazytensor.printing: its output must equal PyTorch's ``repr(tensor)``.

Most tests compare against real torch and are skipped when torch is not
installed; a handful of literal-string tests run everywhere.
"""

from __future__ import annotations

import importlib
import importlib.util
import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

try:  # ml_dtypes is a project dependency, but keep the file importable without it
    import ml_dtypes
except ImportError:  # pragma: no cover
    ml_dtypes = None

try:
    import hypothesis.extra.numpy as hnp
    from hypothesis import given, settings
    from hypothesis import strategies as st
except ImportError:  # pragma: no cover
    hnp = None

MODULE_PATH = Path(__file__).resolve().parents[2] / "lazytensor" / "printing.py"


def _load_printing():
    """Import lazytensor.printing, or load it straight from its file if the package isn't usable."""
    try:
        return importlib.import_module("lazytensor.printing")
    except Exception:
        name = "_lazytensor_printing_under_test"
        spec = importlib.util.spec_from_file_location(name, MODULE_PATH)
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module  # dataclasses need the module registered
        spec.loader.exec_module(module)
        return module


printing = _load_printing()
tensor_repr = printing.tensor_repr

DTYPES = ["bool", "uint8", "int8", "int16", "int32", "int64",
          "float16", "bfloat16", "float32", "float64"]
FLOAT_DTYPES = ["float16", "bfloat16", "float32", "float64"]


# --------------------------------------------------------------------------- #
# Fixtures and helpers
# --------------------------------------------------------------------------- #


@pytest.fixture(autouse=True)
def _restore_defaults():
    """Every test starts and ends with default print options (ours and torch's)."""
    printing.set_printoptions(profile="default")
    yield
    printing.set_printoptions(profile="default")
    torch = sys.modules.get("torch")
    if torch is not None:
        torch.set_printoptions(profile="default")
        torch.set_default_dtype(torch.float32)


@pytest.fixture(scope="module")
def torch():
    """The torch module, or skip the test when torch isn't installed."""
    return pytest.importorskip("torch")


def set_both(torch, **options):
    """Apply the same print options to torch and to lazytensor.printing."""
    torch.set_printoptions(**options)
    printing.set_printoptions(**options)


def make_tensor(torch, arr, dtype_name):
    """A torch tensor of dtype_name built from arr, plus the numpy values it holds."""
    arr = np.ascontiguousarray(arr)
    if dtype_name == "bfloat16":
        # numpy has no native bfloat16: build from float32 and read the
        # rounded values back so both sides print the same numbers.
        t = torch.from_numpy(arr.astype(np.float32)).to(torch.bfloat16)
        values = t.float().numpy().astype(ml_dtypes.bfloat16)
    else:
        with np.errstate(all="ignore"):
            values = arr.astype(dtype_name)
        t = torch.from_numpy(values.copy())
    return t, values


def assert_matches(torch, arr, dtype_name, *, requires_grad=False, op=None):
    """Build the tensor in torch and check tensor_repr reproduces repr(t)."""
    t, values = make_tensor(torch, arr, dtype_name)
    grad_fn = None
    if requires_grad:
        t.requires_grad_(True)
    if op is not None:
        t = op(t)
        grad_fn = type(t.grad_fn).__name__ if t.grad_fn is not None else None
        values = t.detach().numpy() if dtype_name != "bfloat16" else (
            t.detach().float().numpy().astype(ml_dtypes.bfloat16))
    default_float = "float64" if torch.get_default_dtype() == torch.float64 else "float32"
    expected = repr(t)
    got = tensor_repr(values, dtype_name, default_float=default_float,
                      requires_grad=t.requires_grad, grad_fn=grad_fn)
    assert got == expected, f"\n--- torch ---\n{expected}\n--- ours ---\n{got}"
    assert str(t) == expected  # str and repr are the same text in torch


def sample_values(dtype_name, shape, seed=0):
    """Deterministic random values appropriate for dtype_name."""
    rng = np.random.default_rng(seed)
    if dtype_name == "bool":
        return rng.integers(0, 2, size=shape).astype(bool)
    if dtype_name in FLOAT_DTYPES:
        return rng.standard_normal(shape) * 3
    info = np.iinfo(dtype_name)
    return rng.integers(info.min, info.max, size=shape, endpoint=True, dtype=dtype_name)


# --------------------------------------------------------------------------- #
# Literal expectations (no torch needed)
# --------------------------------------------------------------------------- #

ONES_4x12 = (
    "tensor([[1., 1., 1., 1., 1., 1., 1., 1., 1., 1., 1., 1.],\n"
    "        [1., 1., 1., 1., 1., 1., 1., 1., 1., 1., 1., 1.],\n"
    "        [1., 1., 1., 1., 1., 1., 1., 1., 1., 1., 1., 1.],\n"
    "        [1., 1., 1., 1., 1., 1., 1., 1., 1., 1., 1., 1.]])"
)


@pytest.mark.parametrize(
    "values, dtype_name, kwargs, expected",
    [
        (np.ones(3, np.float32), "float32", {}, "tensor([1., 1., 1.])"),
        (np.array([1, 2, 3], np.int32), "int32", {}, "tensor([1, 2, 3], dtype=torch.int32)"),
        (np.array([1, 2, 3]), "int64", {}, "tensor([1, 2, 3])"),
        (np.zeros((0, 3), np.float32), "float32", {}, "tensor([], size=(0, 3))"),
        (np.zeros(0, np.int64), "int64", {}, "tensor([], dtype=torch.int64)"),
        (np.array(3.5, np.float32), "float32", {}, "tensor(3.5000)"),
        (np.array(7), "int64", {}, "tensor(7)"),
        (np.array([True, False]), "bool", {}, "tensor([ True, False])"),
        (np.array([-0.0, 1.0]), "float32", {}, "tensor([-0., 1.])"),
        (np.array([0.0, np.nan, np.inf, -np.inf]), "float32", {}, "tensor([0., nan, inf, -inf])"),
        (np.array([1e-5, 1.0]), "float32", {}, "tensor([1.0000e-05, 1.0000e+00])"),
        (np.array([1.5, 2.25]), "float16", {}, "tensor([1.5000, 2.2500], dtype=torch.float16)"),
        (np.array([1.0, 2.0]), "float64", {}, "tensor([1., 2.], dtype=torch.float64)"),
        (np.array([1.0, 2.0]), "float64", {"default_float": "float64"}, "tensor([1., 2.])"),
        (np.array([1.0, 2.0]), "float32", {"default_float": "float64"},
         "tensor([1., 2.], dtype=torch.float32)"),
        (np.ones((4, 12), np.float32), "float32", {}, ONES_4x12),
        # Non-cpu devices are named; torch's CPU build cannot create these.
        (np.array([1.0, 2.0]), "float32", {"device": "cuda:0"}, "tensor([1., 2.], device='cuda:0')"),
        (np.array([1, 2]), "int32", {"device": "cuda:1"},
         "tensor([1, 2], device='cuda:1', dtype=torch.int32)"),
        (np.array([1.0, 2.0]), "float32", {"device": "cuda:0", "requires_grad": True},
         "tensor([1., 2.], device='cuda:0', requires_grad=True)"),
        (np.array([2.0, 3.0]), "float32", {"device": "cuda:0", "grad_fn": "AddBackward0"},
         "tensor([2., 3.], device='cuda:0', grad_fn=<AddBackward0>)"),
        (np.array([1.0]), "float32", {"requires_grad": True, "grad_fn": "MulBackward0"},
         "tensor([1.], grad_fn=<MulBackward0>)"),
        (np.array(2.0), "float32", {"device": "cpu"}, "tensor(2.)"),
    ],
)
def test_literal(values, dtype_name, kwargs, expected):
    assert tensor_repr(values, dtype_name, **kwargs) == expected


def test_literal_cuda_suffix_wraps_after_multiline_body():
    # Built by hand from torch's rules: the suffix goes on its own line
    # (indented by len("tensor(")) when it would overflow linewidth.
    values = np.arange(1, 17, dtype=np.float32).reshape(2, 8) * 1000.5
    got = tensor_repr(values, "float32", device="cuda:0")
    assert got == (
        "tensor([[ 1000.5000,  2001.0000,  3001.5000,  4002.0000,  5002.5000,  6003.0000,\n"
        "          7003.5000,  8004.0000],\n"
        "        [ 9004.5000, 10005.0000, 11005.5000, 12006.0000, 13006.5000, 14007.0000,\n"
        "         15007.5000, 16008.0000]], device='cuda:0')"
    )


def test_literal_summarized():
    got = tensor_repr(np.arange(2000), "int64")
    assert got == "tensor([   0,    1,    2,  ..., 1997, 1998, 1999])"


def test_printoptions_api_without_torch():
    assert printing.get_printoptions() == {
        "precision": 4, "threshold": 1000, "edgeitems": 3, "linewidth": 80, "sci_mode": None,
    }
    with printing.printoptions(precision=2, sci_mode=True):
        assert printing.get_printoptions()["precision"] == 2
        assert tensor_repr(np.array([1.5]), "float32") == "tensor([1.50e+00])"
    assert printing.get_printoptions()["precision"] == 4
    assert printing.get_printoptions()["sci_mode"] is None

    printing.set_printoptions(profile="short")
    assert printing.get_printoptions() == {
        "precision": 2, "threshold": 1000, "edgeitems": 2, "linewidth": 80, "sci_mode": None,
    }
    printing.set_printoptions(profile="full", precision=6)
    assert printing.get_printoptions()["threshold"] == math.inf
    assert printing.get_printoptions()["precision"] == 6

    @printing.printoptions(threshold=3, edgeitems=1)
    def summarised():
        return tensor_repr(np.arange(10), "int64")

    assert summarised() == "tensor([0,  ..., 9])"


def test_module_does_not_import_torch():
    code = (
        "import importlib.util, sys\n"
        f"spec = importlib.util.spec_from_file_location('p', {str(MODULE_PATH)!r})\n"
        "m = importlib.util.module_from_spec(spec); sys.modules['p'] = m\n"
        "spec.loader.exec_module(m)\n"
        "import numpy as np\n"
        "m.tensor_repr(np.ones(3, dtype=np.float32), 'bfloat16')\n"
        "assert 'torch' not in sys.modules\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_bad_dtype_name():
    with pytest.raises(ValueError):
        tensor_repr(np.ones(2), "complex64")


# --------------------------------------------------------------------------- #
# Comparison with torch: dtypes x shapes
# --------------------------------------------------------------------------- #

SHAPES = [(), (0,), (0, 3), (2, 0, 4), (1,), (7,), (2, 3), (3, 1), (2, 3, 4), (2, 1, 3, 2), (1, 1, 1, 1)]


@pytest.mark.parametrize("shape", SHAPES, ids=str)
@pytest.mark.parametrize("dtype_name", DTYPES)
def test_dtype_and_shape(torch, dtype_name, shape):
    assert_matches(torch, sample_values(dtype_name, shape), dtype_name)


@pytest.mark.parametrize("dtype_name", DTYPES)
def test_small_integral_values(torch, dtype_name):
    # Integral values put floats into int mode ("1." style).
    assert_matches(torch, np.arange(12).reshape(3, 4) % 2 if dtype_name == "bool"
                   else np.arange(12).reshape(3, 4), dtype_name)


# --------------------------------------------------------------------------- #
# Comparison with torch: interesting float values
# --------------------------------------------------------------------------- #

nan, inf = math.nan, math.inf
FLOAT_CASES = {
    "tiny": [1e-5, 2e-5, 3e-5],
    "tiny_and_one": [1e-5, 1.0],
    "large": [1e10, 2e10],
    "just_over_1e8": [1.5e8, 1.0],
    "exactly_1e8": [1e8, 1.0],
    "ratio_1000": [1.0, 1000.0],
    "ratio_1001": [1.0, 1001.0],
    "min_1e-4": [1e-4, 0.5],
    "mixed_magnitudes": [1e-3, 1.0, 1e3, -5e2],
    "integral": [1.0, 2.0, 3.0],
    "integral_negative": [-1.0, 20.0, -300.0],
    "big_integral": [12345678.0, 1.0],
    "negative": [-1.5, -2.25, 3.125],
    "rounding_up": [9.99996, 0.5],
    "rounding_half": [0.00005, 0.00015, 0.5],
    "nan_inf": [nan, inf, -inf, 1.5],
    "nan_inf_int": [nan, inf, -inf, 2.0],
    "nan_inf_sci": [nan, -inf, 1e-7, 3.0],
    "only_nonfinite": [nan, inf, -inf],
    "only_nan": [nan],
    "zeros": [0.0, 0.0],
    "neg_zero": [-0.0, 0.0],
    "neg_zero_frac": [-0.0, 0.5],
    "neg_zero_sci": [-0.0, 1e-6],
    "subnormal": [1e-40, 1.0],
    "huge": [3e38, -3e38, 1.0],
    "wide_row": list(np.linspace(-1000.0, 1000.0, 37)),
    "wide_row_int": list(range(-40, 40, 3)),
    "pi_row": list(np.pi * np.arange(1, 30)),
}


@pytest.mark.parametrize("case", list(FLOAT_CASES))
@pytest.mark.parametrize("dtype_name", FLOAT_DTYPES)
def test_float_values(torch, dtype_name, case):
    values = np.array(FLOAT_CASES[case], dtype=np.float64)
    assert_matches(torch, values, dtype_name)
    if values.size > 1:
        assert_matches(torch, values[:1], dtype_name)
        assert_matches(torch, np.array(values[-1]), dtype_name)  # 0-d


@pytest.mark.parametrize("case", ["wide_row", "pi_row", "nan_inf_sci", "mixed_magnitudes"])
def test_float_values_2d_3d(torch, case):
    values = np.array(FLOAT_CASES[case] * 6, dtype=np.float64)
    n = values.size - values.size % 6
    assert_matches(torch, values[:n].reshape(2, -1), "float32")
    assert_matches(torch, values[:n].reshape(2, 3, -1), "float64")


@pytest.mark.parametrize("dtype_name", ["int8", "int16", "int32", "int64", "uint8"])
def test_int_extremes(torch, dtype_name):
    info = np.iinfo(dtype_name)
    assert_matches(torch, np.array([info.min, 0, info.max, -1 if info.min else 1],
                                   dtype=dtype_name), dtype_name)
    assert_matches(torch, np.tile(np.array([info.min, info.max], dtype=dtype_name), 30),
                   dtype_name)


# --------------------------------------------------------------------------- #
# Comparison with torch: summarisation of large tensors
# --------------------------------------------------------------------------- #

LARGE_SHAPES = [(2000,), (1001,), (100, 100), (3, 1000, 3), (10, 10, 10, 10), (1, 2000), (2000, 1),
                (7, 200)]


@pytest.mark.parametrize("shape", LARGE_SHAPES, ids=str)
@pytest.mark.parametrize("dtype_name", ["bool", "int32", "int64", "float16", "bfloat16", "float32",
                                        "float64"])
def test_large_summarized(torch, dtype_name, shape):
    assert_matches(torch, sample_values(dtype_name, shape, seed=1), dtype_name)


@pytest.mark.parametrize("shape", [(2000,), (100, 100), (3, 1000, 3)], ids=str)
def test_large_arange(torch, shape):
    n = int(np.prod(shape))
    assert_matches(torch, np.arange(n).reshape(shape), "int64")
    assert_matches(torch, np.arange(n, dtype=np.float64).reshape(shape), "float32")
    assert_matches(torch, (np.arange(n) / 7.0).reshape(shape), "float32")


def test_summary_hides_extreme_middle_value(torch):
    # Only the shown elements decide the format: a huge value in the hidden
    # middle must not switch on scientific mode.
    values = np.ones(2000)
    values[1000] = 1e20
    assert_matches(torch, values, "float32")
    values = np.ones((50, 50))
    values[25, 25] = 1e-9
    assert_matches(torch, values, "float32")


# --------------------------------------------------------------------------- #
# Comparison with torch: default dtype, autograd suffixes
# --------------------------------------------------------------------------- #


@pytest.mark.parametrize("default", ["float32", "float64"])
@pytest.mark.parametrize("dtype_name", DTYPES)
@pytest.mark.parametrize("shape", [(), (0,), (2, 0), (3,), (2, 2)], ids=str)
def test_default_float_dtype(torch, default, dtype_name, shape):
    torch.set_default_dtype(getattr(torch, default))
    assert_matches(torch, sample_values(dtype_name, shape, seed=2), dtype_name)


@pytest.mark.parametrize("dtype_name", FLOAT_DTYPES)
@pytest.mark.parametrize("shape", [(), (3,), (2, 3), (4, 12), (2, 2, 2)], ids=str)
def test_requires_grad(torch, dtype_name, shape):
    assert_matches(torch, sample_values(dtype_name, shape, seed=3), dtype_name, requires_grad=True)


OPS = {
    "add": lambda t: t + 1,
    "mul": lambda t: t * 2,
    "sum": lambda t: t.sum(),
    "neg": lambda t: -t,
    "exp": lambda t: t.exp(),
}


@pytest.mark.parametrize("op", list(OPS))
@pytest.mark.parametrize("dtype_name", ["float32", "float64", "bfloat16"])
@pytest.mark.parametrize("shape", [(), (5,), (3, 9), (2, 2, 3)], ids=str)
def test_grad_fn(torch, op, dtype_name, shape):
    assert_matches(torch, sample_values(dtype_name, shape, seed=4), dtype_name,
                   requires_grad=True, op=OPS[op])


@pytest.mark.parametrize("n", range(1, 24))
def test_suffix_line_breaking(torch, n):
    # Rows of growing length put the suffixes right at, before and after the
    # linewidth limit, on one line and on wrapped multi-line bodies.
    values = np.arange(n) * 1.5 - 3
    assert_matches(torch, values, "float64", requires_grad=True)
    assert_matches(torch, values, "float16", requires_grad=True, op=OPS["mul"])
    assert_matches(torch, np.stack([values, values]), "float64", requires_grad=True)
    assert_matches(torch, values.astype(np.int64), "int32")


# --------------------------------------------------------------------------- #
# Comparison with torch: print options
# --------------------------------------------------------------------------- #

OPTION_SETS = [
    {"precision": 2},
    {"precision": 0},
    {"precision": 8},
    {"sci_mode": False},
    {"sci_mode": True},
    {"precision": 2, "sci_mode": True},
    {"threshold": 5},
    {"threshold": 0},
    {"threshold": 5, "edgeitems": 1},
    {"threshold": 5, "edgeitems": 0},
    {"edgeitems": 0},
    {"edgeitems": 5},
    {"linewidth": 40},
    {"linewidth": 10},
    {"linewidth": 200},
    {"profile": "full"},
    {"profile": "short"},
    {"profile": "default"},
    {"profile": "short", "precision": 5, "sci_mode": False},
]

OPTION_ARRAYS = {
    "vec": (np.arange(10) * 1.25 - 4, "float32"),
    "int_vec": (np.arange(-5, 15), "int64"),
    "bool_mat": (np.eye(4, dtype=bool), "bool"),
    "mixed": (np.array([1e-6, 1.0, 1e6, nan, -inf]), "float32"),
    "integral": (np.array([1.0, -2.0, 300.0, 0.0]), "float64"),
    "big": (sample_values("float32", (1200,), seed=5), "float32"),
    "big_int": (np.arange(1500, dtype=np.int16), "int16"),
    "mat": (sample_values("float32", (40, 40), seed=6), "float32"),
    "cube": (sample_values("float16", (9, 8, 7), seed=7), "float16"),
    "scalar": (np.array(1.0 / 3.0), "float32"),
    "empty": (np.zeros((0, 2)), "float32"),
}


@pytest.mark.parametrize("array", list(OPTION_ARRAYS))
@pytest.mark.parametrize("options", OPTION_SETS, ids=lambda o: ",".join(f"{k}={v}" for k, v in o.items()))
def test_printoptions_match_torch(torch, options, array):
    set_both(torch, **options)
    assert printing.get_printoptions() == torch._tensor_str.get_printoptions()
    values, dtype_name = OPTION_ARRAYS[array]
    assert_matches(torch, values, dtype_name)
    assert_matches(torch, values, dtype_name, requires_grad=dtype_name.startswith("float"))


def test_printoptions_context_matches_torch(torch):
    values = np.array([1.0, 2.5, 1e-7])
    with printing.printoptions(precision=3, sci_mode=False), \
            torch._tensor_str.printoptions(precision=3, sci_mode=False):
        assert printing.get_printoptions() == torch._tensor_str.get_printoptions()
        assert_matches(torch, values, "float32")
    assert printing.get_printoptions() == torch._tensor_str.get_printoptions()
    assert_matches(torch, values, "float32")


# --------------------------------------------------------------------------- #
# Property tests against torch (hypothesis)
# --------------------------------------------------------------------------- #

if hnp is not None:
    SPECIALS = [0.0, -0.0, nan, inf, -inf, 1.0, -1.0, 1e-5, 1e8, 1.5e8, 1e-45, 3.4e38, 0.5]

    float32_elements = st.one_of(
        st.floats(width=32, allow_nan=True, allow_infinity=True, allow_subnormal=True),
        st.sampled_from(SPECIALS),
        st.integers(-1000, 1000).map(float),
    )
    print_options = st.fixed_dictionaries({
        "precision": st.integers(0, 10),
        "threshold": st.sampled_from([1000, 0, 1, 5, 30, math.inf]),
        "edgeitems": st.integers(0, 4),
        "linewidth": st.integers(10, 120),
        "sci_mode": st.sampled_from([None, None, True, False]),
    })
    shapes = hnp.array_shapes(min_dims=0, max_dims=3, min_side=0, max_side=9)

    @settings(max_examples=300, deadline=None)
    @given(values=hnp.arrays(np.float32, shapes, elements=float32_elements))
    def test_property_float32_default_options(torch, values):
        assert_matches(torch, values, "float32")

    @settings(max_examples=300, deadline=None)
    @given(
        values=hnp.arrays(np.float32, shapes, elements=float32_elements),
        dtype_name=st.sampled_from(FLOAT_DTYPES),
        options=print_options,
        requires_grad=st.booleans(),
    )
    def test_property_floats_random_options(torch, values, dtype_name, options, requires_grad):
        try:
            set_both(torch, **options)
            assert_matches(torch, values, dtype_name, requires_grad=requires_grad)
        finally:
            set_both(torch, profile="default")

    @settings(max_examples=200, deadline=None)
    @given(
        data=st.data(),
        dtype_name=st.sampled_from(["bool", "uint8", "int8", "int16", "int32", "int64"]),
        shape=shapes,
        options=print_options,
    )
    def test_property_integers_random_options(torch, data, dtype_name, shape, options):
        dtype = np.dtype(dtype_name)
        values = data.draw(hnp.arrays(dtype, shape))
        try:
            set_both(torch, **options)
            assert_matches(torch, values, dtype_name)
        finally:
            set_both(torch, profile="default")
