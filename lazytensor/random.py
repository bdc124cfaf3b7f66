"""Random numbers: generators, random factories and in-place samplers over the RAND primitive.

RAND(seed, offset) is counter-based: element i of a RAND node is a hash of (seed, offset + i)
mapped to uniform [0, 1) (compiler/ops.py `_np_rand`). A `Generator` is therefore just a seed and
a counter: each draw takes the next `numel` counter values (the offset advances by the elements
consumed), so successive draws differ, the same seed replays the same numbers, and the values do
not depend on how later work is fused or scheduled, nor on the backend. Every sampler is built
from RAND nodes and elementwise primitives and stays lazy; only `randperm` and `multinomial`
flush, because they need a sort / a sequential search that the primitive set lacks.

The streams are this library's own: the same seed does not give PyTorch's numbers, only the same
distributions, shapes, dtypes, argument checks and errors.
"""
from __future__ import annotations

import contextlib
import math
import numbers
import os
import warnings
from typing import Iterator

import ml_dtypes
import numpy as np

from lazytensor import lazy
from lazytensor.compiler import dtypes as dt
from lazytensor.compiler.ir import Node
from lazytensor.compiler.build import add as _add, like as _c, mul as _mul, sub as _sub
from lazytensor.compiler.ops import Op, make
from lazytensor.creation import _finish, _stored
from lazytensor.device import device as Device, resolve
from lazytensor.linalg import _CPP_NAME
from lazytensor.tensor import (Tensor, _torch_name, assign, broadcast_shapes, cast_node, const, expand_node,
                               get_default_dtype, wrap)

__all__ = ["Generator", "default_generator", "manual_seed", "seed", "initial_seed", "get_rng_state",
           "set_rng_state", "rand", "randn", "randint", "randperm", "rand_like", "randn_like", "randint_like",
           "normal", "bernoulli", "multinomial"]

_MASK64 = (1 << 64) - 1
_DEFAULT_SEED = 67280421310721  # PyTorch's seed for a new torch.Generator()
_STATE_BYTES = 16  # a generator's state: seed and offset, two little-endian uint64
_LN2 = math.log(2.0)
# mantissa digits (with the implicit bit) of each float type: the bits a uniform draw may use
_DIGITS = {dt.float16: 11, dt.bfloat16: 8, dt.float32: 24, dt.float64: 53}


# ---- generators ----

def _check_seed(seed) -> int:
    if not isinstance(seed, numbers.Integral):
        raise RuntimeError(f"manual_seed expected a long, but got {type(seed).__name__}")
    seed = int(seed)
    if not -(1 << 63) <= seed <= _MASK64:
        raise ValueError("Overflow when unpacking long long")
    return seed & _MASK64  # negative seeds wrap to uint64, as PyTorch stores them


class Generator:
    """A counter-based random generator: a seed and the offset of the next unused counter value."""

    __slots__ = ("_seed", "_offset", "device")

    def __init__(self, device=None):
        self.device: Device = resolve(device)
        self._seed = _DEFAULT_SEED
        self._offset = 0

    def manual_seed(self, seed: int) -> "Generator":
        """Restart the stream at `seed` (offset 0); returns self."""
        self._seed = _check_seed(seed)
        self._offset = 0
        return self

    def seed(self) -> int:
        """Reseed from the operating system's entropy; returns the new seed."""
        s = int.from_bytes(os.urandom(8), "little")
        self.manual_seed(s)
        return s

    def initial_seed(self) -> int:
        """The seed the stream started from."""
        return self._seed

    def get_state(self) -> Tensor:
        """The state (seed, offset) as a uint8 tensor of 16 bytes."""
        raw = np.array([self._seed, self._offset], dtype="<u8").view(np.uint8)
        return _stored(raw, dt.uint8)

    def set_state(self, new_state: Tensor) -> "Generator":
        """Restore a state that `get_state` returned (flushes `new_state`); returns self."""
        if not isinstance(new_state, Tensor) or new_state.dtype is not dt.uint8:
            raise TypeError("RNG state must be a torch.ByteTensor")
        if new_state.numel() != _STATE_BYTES:
            raise RuntimeError(f"Expected a lazytensor RNG state of size {_STATE_BYTES} but found the input RNG "
                               f"state size to be {new_state.numel()}")
        seed, offset = np.ascontiguousarray(new_state._host_array().reshape(-1)).view("<u8").tolist()
        self._seed, self._offset = int(seed), int(offset)
        return self

    def get_offset(self) -> int:
        """How many counter values the stream has used since its seed."""
        return self._offset

    def set_offset(self, offset: int) -> "Generator":
        """Move the stream to counter value `offset`; returns self."""
        if not isinstance(offset, numbers.Integral) or not 0 <= offset <= _MASK64:
            raise RuntimeError(f"offset must be a non-negative 64-bit integer, got {offset!r}")
        self._offset = int(offset)
        return self

    def _take(self, n: int) -> tuple[int, int]:
        """RAND's (seed, offset) for a draw of `n` values; the offset moves past them."""
        offset = self._offset
        self._offset = (offset + n) & _MASK64
        return self._seed, offset

    def __repr__(self) -> str:
        return f"<lazytensor.Generator object at {hex(id(self))}>"


default_generator = Generator()
default_generator.seed()  # like PyTorch 2.x, an unseeded process starts from a random seed


def manual_seed(seed: int) -> Generator:
    """Seed the default generator; returns it."""
    if not isinstance(seed, numbers.Integral):
        seed = int(seed)  # torch.manual_seed converts with int() first
    return default_generator.manual_seed(seed)


def seed() -> int:
    """Reseed the default generator from the operating system's entropy; returns the seed."""
    return default_generator.seed()


def initial_seed() -> int:
    """The seed of the default generator."""
    return default_generator.initial_seed()


def get_rng_state() -> Tensor:
    """The default generator's state as a uint8 tensor."""
    return default_generator.get_state()


def set_rng_state(new_state: Tensor) -> None:
    """Restore the default generator's state."""
    default_generator.set_state(new_state)


@contextlib.contextmanager
def fork_rng(devices=None, enabled: bool = True, **kwargs) -> Iterator[None]:
    """Run a block and then put the default generator's state back (torch.random.fork_rng)."""
    if not enabled:
        yield
        return
    state = (default_generator._seed, default_generator._offset)
    try:
        yield
    finally:
        default_generator._seed, default_generator._offset = state


def _gen(generator: Generator | None) -> Generator:
    if generator is None:
        return default_generator
    if not isinstance(generator, Generator):
        raise TypeError(f"expected a Generator, got {type(generator).__name__}")
    return generator


# ---- uniform draws as nodes ----

def _numel(shape) -> int:
    n = 1
    for d in shape:
        n *= d
    return n


def _work(d: dt.DType) -> dt.DType:
    """The dtype sampling math runs in: float64 for float64, else float32 (PyTorch's acc type)."""
    return dt.float64 if d is dt.float64 else dt.float32


def _rand(gen: Generator, shape: tuple, dtype: dt.DType) -> Node:
    """A fresh RAND node: uniform [0, 1) of float `dtype`, drawing numel counter values."""
    return make(Op.RAND, (), gen._take(_numel(shape)), dtype, tuple(shape))


def _uniform01(gen: Generator, shape: tuple, dtype: dt.DType) -> Node:
    """Uniform [0, 1) for a float `dtype`, as a node of `_work(dtype)` (for math on the samples).

    RAND of a half type keeps only that type's mantissa bits (k / 2**digits, as PyTorch draws
    them), so the samples are exact in `dtype` and never round up to 1.
    """
    return cast_node(_rand(gen, shape, dtype), _work(dtype))


def _normal01(gen: Generator, shape: tuple, work: dt.DType) -> Node:
    """Standard normal samples by Box-Muller from two uniform draws (2 * numel counter values).

    z = sqrt(-2 ln(1 - u1)) cos(2 pi u2); 1 - u1 is in (0, 1], so the log is finite.
    """
    u1 = _rand(gen, shape, work)
    u2 = _rand(gen, shape, work)
    radius = make(Op.SQRT, (_mul(make(Op.LOG2, (_sub(_c(1.0, u1), u1),)), _c(-2.0 * _LN2, u1)),))
    # cos(t) = sin(t + pi/2)
    angle = _add(_mul(u2, _c(2.0 * math.pi, u2)), _c(math.pi / 2, u2))
    return _mul(radius, make(Op.SIN, (angle,)))


def _ln(a: Node) -> Node:
    return _mul(make(Op.LOG2, (a,)), _c(_LN2, a))


def _random_ints(gen: Generator, shape: tuple, low: int, high: int) -> Node:
    """Uniform integers in [low, high) as an int64 node (high - low <= 2**64).

    Ranges up to 2**24 scale one float32 draw and up to 2**53 one float64 draw: with u <= 1 - 2**-p
    and range <= 2**p, u * range rounds below range, so truncation lands in [0, range). Larger
    ranges take 64 random bits from two float64 draws (32 bits each) and reduce them modulo the
    range, as PyTorch does: negligibly biased below 2**63, but a range in (2**63, 2**64) gives
    the values below 2**64 - range twice the weight of the others (PyTorch's bias too).
    """
    span = high - low
    if span <= 1 << 53:
        work = dt.float32 if span <= 1 << 24 else dt.float64
        u = _rand(gen, shape, work)
        r = make(Op.CAST, (_mul(u, _c(float(span), u)),), dt.int64)
    else:
        def word():
            u = _rand(gen, shape, dt.float64)
            return make(Op.CAST, (_mul(u, _c(float(1 << 32), u)),), dt.int64)
        hi, lo = word(), word()
        bits = _add(_mul(hi, _c(1 << 32, hi)), lo)  # int64 arithmetic wraps: the uint64 bit pattern
        if span == 1 << 64:
            r = bits
        elif span & (span - 1) == 0:
            r = make(Op.AND, (bits, _c(span - 1, bits)))
        elif span < 1 << 63:
            r = make(Op.MOD, (make(Op.AND, (bits, _c((1 << 63) - 1, bits))), _c(span, bits)))
        else:
            # span in (2**63, 2**64): bits mod span = bits if bits < span (unsigned) else bits - span.
            # Unsigned order is signed order after flipping the sign bit.
            flipped = make(Op.XOR, (bits, _c(-(1 << 63), bits)))
            below = make(Op.CMPLT, (flipped, _c(span - (1 << 63), bits)))
            r = make(Op.WHERE, (below, bits, _add(bits, _c((1 << 64) - span, bits))))
    return r if low == 0 else _add(r, _c(_wrap64(low), r))


def _wrap64(v: int) -> int:
    v &= _MASK64
    return v - (1 << 64) if v >= 1 << 63 else v


# ---- argument handling ----

def _size(size: tuple, kwargs: dict, fn: str) -> tuple:
    """The shape from `*size` (ints, or one sequence) or a `size=` keyword, checked like PyTorch."""
    if "size" in kwargs:
        if size:
            raise TypeError(f"{fn}() got multiple values for argument 'size'")
        size = (kwargs.pop("size"),)
    if kwargs:
        raise TypeError(f"{fn}() got an unexpected keyword argument '{next(iter(kwargs))}'")
    if not size:
        raise TypeError(f"{fn}() received an invalid combination of arguments - got (), but expected (tuple of "
                        f"ints size)")
    if len(size) == 1 and isinstance(size[0], (tuple, list)):
        size = tuple(size[0])
    for d in size:
        if not isinstance(d, numbers.Integral) or isinstance(d, bool):
            raise TypeError(f"{fn}(): argument 'size' (position 1) must be tuple of ints, not {type(d).__name__}")
    shape = tuple(int(d) for d in size)
    if any(d < 0 for d in shape):
        raise RuntimeError(f"Trying to create tensor with negative dimension {min(shape)}: {list(shape)}")
    return shape


def _need_float(d: dt.DType, kernel: str) -> None:
    if not d.is_floating_point:
        raise NotImplementedError(f"\"{kernel}\" not implemented for '{_torch_name(d)}'")


def _fmt(x: float) -> str:
    """A number as C++'s default stream formatting prints it in PyTorch's messages."""
    return f"{x:g}" if isinstance(x, float) else str(x)


def _int_arg(v, fn: str, name: str) -> int:
    if isinstance(v, Tensor):
        v = v.item()
    if not isinstance(v, numbers.Integral):
        raise TypeError(f"{fn}(): argument '{name}' must be int, not {type(v).__name__}")
    v = int(v)
    if not -(1 << 63) <= v < 1 << 63:
        raise ValueError("Overflow when unpacking long long")
    return v


def _check_from_to(low: int, high: int, dtype: dt.DType) -> None:
    """PyTorch's random_from_to checks: low < high, and both ends representable in `dtype`."""
    if low >= high:
        raise RuntimeError(f"random_ expects 'from' to be less than 'to', but got from={low} >= to={high}")
    if dtype.is_floating_point:
        limit = 1 << _DIGITS[dtype]
        name = _CPP_NAME[dtype.name]
        for v, what in ((low, "from"), (high - 1, "to - 1")):
            if not -limit <= v <= limit:
                # PyTorch only warns here: floats cannot hold every integer beyond 2**digits
                warnings.warn(f"{what} is out of bounds [-(2^{_DIGITS[dtype]}), 2^{_DIGITS[dtype]}]. Due to "
                              f"precision limitations {name} can support discrete uniform distribution only "
                              f"within this range.", UserWarning, stacklevel=3)
        return
    lo, hi = _int_bounds(dtype)
    if not lo <= low <= hi:
        raise RuntimeError(f"from is out of bounds for {_CPP_NAME[dtype.name]}")
    if not lo <= high - 1 <= hi:
        raise RuntimeError(f"to - 1 is out of bounds for {_CPP_NAME[dtype.name]}")


def _int_bounds(dtype: dt.DType) -> tuple[int, int]:
    if dtype is dt.bool_:
        return 0, 1
    info = np.iinfo(dtype.np_dtype)
    return int(info.min), int(info.max)


def _default_to(dtype: dt.DType) -> int:
    """One past the largest value random_() draws by default for `dtype`."""
    if dtype.is_floating_point:
        return (1 << _DIGITS[dtype]) + 1
    return _int_bounds(dtype)[1] + 1


# ---- factories ----

def rand(*size, generator: Generator | None = None, dtype: dt.DType | None = None, layout=None, device=None,
         requires_grad: bool = False, pin_memory: bool = False, **kwargs) -> Tensor:
    """Uniform samples from [0, 1) (lazy: a RAND node)."""
    shape = _size(size, kwargs, "rand")
    resolve(device)
    dtype = dtype or get_default_dtype()
    _need_float(dtype, "check_uniform_bounds")
    return _finish(wrap(_rand(_gen(generator), shape, dtype)), requires_grad)


def randn(*size, generator: Generator | None = None, dtype: dt.DType | None = None, layout=None, device=None,
          requires_grad: bool = False, pin_memory: bool = False, **kwargs) -> Tensor:
    """Standard normal samples (lazy: Box-Muller over two RAND nodes)."""
    shape = _size(size, kwargs, "randn")
    resolve(device)
    dtype = dtype or get_default_dtype()
    _need_float(dtype, "normal_kernel_cpu")
    return _finish(wrap(cast_node(_normal01(_gen(generator), shape, _work(dtype)), dtype)), requires_grad)


def randint(*args, generator: Generator | None = None, dtype: dt.DType | None = None, layout=None, device=None,
            requires_grad: bool = False, pin_memory: bool = False, **kwargs) -> Tensor:
    """Uniform integers in [low, high): `randint(high, size)` or `randint(low, high, size)` (int64 by default)."""
    low, high, size = _randint_args(args, kwargs)
    resolve(device)
    dtype = dtype or dt.int64
    return _finish(_randint(_gen(generator), tuple(size), low, high, dtype), requires_grad)


def _randint_args(args: tuple, kwargs: dict) -> tuple:
    names = ("low", "high", "size")
    given = dict(kwargs)
    unknown = set(given) - set(names)
    if unknown:
        raise TypeError(f"randint() got an unexpected keyword argument '{unknown.pop()}'")
    if len(args) + len(given) == 2 and "low" not in given:
        # randint(high, size)
        slots = ("high", "size")
    else:
        slots = names
    if len(args) > len(slots):
        raise TypeError(f"randint() takes at most {len(slots)} positional arguments ({len(args)} given)")
    for name, value in zip(slots, args):
        if name in given:
            raise TypeError(f"randint() got multiple values for argument '{name}'")
        given[name] = value
    if "high" not in given or "size" not in given:
        got = ", ".join([type(a).__name__ for a in args] + [f"{k}={type(v).__name__}" for k, v in kwargs.items()])
        raise TypeError(f"randint() received an invalid combination of arguments - got ({got}), but expected "
                        f"(int high, tuple of ints size) or (int low, int high, tuple of ints size)")
    size = given["size"]
    if not isinstance(size, (tuple, list)):
        where = f" (position {slots.index('size') + 1})" if "size" not in kwargs else ""
        raise TypeError(f"randint(): argument 'size'{where} must be tuple of ints, not {type(size).__name__}")
    low = _int_arg(given.get("low", 0), "randint", "low")
    high = _int_arg(given["high"], "randint", "high")
    return low, high, _size((tuple(size),), {}, "randint")


def _randint(gen: Generator, shape: tuple, low: int, high: int, dtype: dt.DType) -> Tensor:
    _check_from_to(low, high, dtype)
    return wrap(cast_node(_random_ints(gen, shape, low, high), dtype))


def randperm(n: int, *, generator: Generator | None = None, dtype: dt.DType = dt.int64, layout=None, device=None,
             requires_grad: bool = False, pin_memory: bool = False) -> Tensor:
    """A random permutation of 0..n-1.

    Not lazy: the primitive set has no sort, so this draws n uniform values from the generator
    (a RAND node), flushes them and argsorts them on the host.
    """
    if not isinstance(n, numbers.Integral) or isinstance(n, bool):
        raise TypeError(f"randperm(): argument 'n' (position 1) must be int, not {type(n).__name__}")
    n = int(n)
    resolve(device)
    if n < 0:
        raise RuntimeError(f"Trying to create tensor with negative dimension {n}: [{n}]")
    if dtype is dt.bool_:
        raise NotImplementedError("\"randperm\" not implemented for 'Bool'")
    if dtype.is_floating_point:
        if n > (1 << _DIGITS[dtype]) + 1:
            raise RuntimeError(f"n cannot be greater than {(1 << _DIGITS[dtype]) + 1} for "
                               f"{_torch_name(dtype)} type.")
    elif n > 0 and n - 1 > _int_bounds(dtype)[1]:
        raise RuntimeError(f"value cannot be converted to type {dtype.np_dtype.name}_t without overflow")
    keys = wrap(_rand(_gen(generator), (n,), dt.float64))._host_array()
    return _finish(_stored(np.argsort(keys, kind="stable"), dtype), requires_grad)


def rand_like(input: Tensor, *, generator: Generator | None = None, dtype: dt.DType | None = None, layout=None,
              device=None, requires_grad: bool = False, memory_format=None) -> Tensor:
    """rand with input's shape and dtype."""
    return rand(tuple(input.shape), generator=generator, dtype=dtype or input.dtype, device=device,
                requires_grad=requires_grad)


def randn_like(input: Tensor, *, generator: Generator | None = None, dtype: dt.DType | None = None, layout=None,
               device=None, requires_grad: bool = False, memory_format=None) -> Tensor:
    """randn with input's shape and dtype."""
    return randn(tuple(input.shape), generator=generator, dtype=dtype or input.dtype, device=device,
                 requires_grad=requires_grad)


def randint_like(input: Tensor, low: int = 0, high: int | None = None, *, generator: Generator | None = None,
                 dtype: dt.DType | None = None, layout=None, device=None, requires_grad: bool = False,
                 memory_format=None) -> Tensor:
    """randint with input's shape and dtype: `randint_like(x, high)` or `randint_like(x, low, high)`."""
    if high is None:
        low, high = 0, low
    low, high = _int_arg(low, "randint_like", "low"), _int_arg(high, "randint_like", "high")
    resolve(device)
    t = _randint(_gen(generator), tuple(input.shape), low, high, dtype or input.dtype)
    return _finish(t, requires_grad)


def normal(mean, std=1.0, size=None, *, generator: Generator | None = None, dtype: dt.DType | None = None,
           layout=None, device=None, requires_grad: bool = False, pin_memory: bool = False) -> Tensor:
    """Normal samples: `normal(mean, std, size)` for numbers, or elementwise for tensor mean and/or std.

    A negative number as std raises, as PyTorch; negative elements of a tensor std are not
    checked (that would flush: the samples are then mirrored, as mean + std * z gives).
    """
    gen = _gen(generator)
    resolve(device)
    mean_t, std_t = isinstance(mean, Tensor), isinstance(std, Tensor)
    if not std_t:
        _check_std(std)
    if not mean_t and not std_t:
        if size is None:
            raise TypeError(f"normal() received an invalid combination of arguments - got ({type(mean).__name__}, "
                            f"{type(std).__name__}), but expected (float mean, float std, tuple of ints size)")
        shape = _size((size,), {}, "normal")
        dtype = dtype or get_default_dtype()
        _need_float(dtype, "normal_kernel_cpu")
        work = _work(dtype)
        z = _normal01(gen, shape, work)
        out = _add(_mul(z, _c(float(std), z)), _c(float(mean), z))
        return _finish(wrap(cast_node(out, dtype)), requires_grad)
    if size is not None:
        raise TypeError("normal() received an invalid combination of arguments - got (Tensor, Tensor, tuple): "
                        "size is only accepted with a number mean and std")
    out_dtype = mean.dtype if mean_t else std.dtype
    _need_float(out_dtype, "normal_kernel_cpu")
    shape = broadcast_shapes(*(x.shape for x in (mean, std) if isinstance(x, Tensor)))
    work = _work(out_dtype)
    z = _normal01(gen, shape, work)
    m = expand_node(cast_node(mean.node, work), shape) if mean_t else _c(float(mean), z)
    s = expand_node(cast_node(std.node, work), shape) if std_t else _c(float(std), z)
    return wrap(cast_node(_add(_mul(z, s), m), out_dtype))


def _check_std(std) -> None:
    if not std >= 0.0:  # catches nan too
        raise RuntimeError(f"normal expects std >= 0.0, but found std {_fmt(float(std))}")


def bernoulli(input: Tensor, p: float | None = None, *, generator: Generator | None = None) -> Tensor:
    """0/1 samples with probability `input` (or `p` when given), in input's shape and dtype.

    Probabilities outside [0, 1] in a tensor are not checked (that would flush): they act as
    clamped to [0, 1].
    """
    gen = _gen(generator)
    if p is None:
        _need_float(input.dtype, "bernoulli_tensor_cpu_p_")
        return wrap(_bernoulli_node(gen, input.node, input.dtype))
    _check_p(p)
    return wrap(_bernoulli_scalar(gen, tuple(input.shape), float(p), input.dtype))


def _check_p(p) -> None:
    if not 0 <= p <= 1:
        raise RuntimeError(f"bernoulli_ expects p to be in [0, 1], but got p={_fmt(p)}")


def _bernoulli_node(gen: Generator, probs: Node, dtype: dt.DType) -> Node:
    work = _work(probs.dtype) if probs.dtype.is_floating_point else dt.float32
    u = _rand(gen, probs.shape, work)
    return cast_node(make(Op.CMPLT, (u, cast_node(probs, work))), dtype)


def _bernoulli_scalar(gen: Generator, shape: tuple, p: float, dtype: dt.DType) -> Node:
    u = _rand(gen, shape, _work(dtype) if dtype.is_floating_point else dt.float32)
    return cast_node(make(Op.CMPLT, (u, _c(p, u))), dtype)


def multinomial(input: Tensor, num_samples: int, replacement: bool = False, *,
                generator: Generator | None = None) -> Tensor:
    """Category indices sampled from the rows of `input` (non-negative weights), int64.

    Not lazy: the weights and the generator's uniform draws are flushed and the categories are
    picked on the host. With replacement each sample inverts the row's CDF at one uniform value
    (num_samples values per row). Without replacement each category gets an exponential key
    -ln(1 - u) / weight and the num_samples smallest keys win, in order (the exponential race:
    the same distribution as drawing one at a time; one value per category per row).
    """
    gen = _gen(generator)
    if not isinstance(input, Tensor):
        raise TypeError(f"multinomial(): argument 'input' (position 1) must be Tensor, not {type(input).__name__}")
    if input.ndim not in (1, 2):
        raise RuntimeError("prob_dist must be 1 or 2 dim")
    if not input.dtype.is_floating_point:
        raise RuntimeError(f"multinomial only supports floating-point dtypes for input, got: "
                           f"{_torch_name(input.dtype)}")
    num_samples = _int_arg(num_samples, "multinomial", "num_samples")
    if num_samples <= 0:
        raise RuntimeError("cannot sample n_sample <= 0 samples")
    categories = input.shape[-1]
    if not replacement and num_samples > categories:
        raise RuntimeError("cannot sample n_sample > prob_dist.size(-1) samples without replacement")
    rows = input.shape[0] if input.ndim == 2 else 1
    draws = (rows, num_samples) if replacement else (rows, categories)
    u_t = wrap(_rand(gen, draws, dt.float64))
    lazy.realize([input, u_t])
    w = input._host_array().astype(np.float64).reshape(rows, categories)
    u = u_t._host_array()
    if not np.all(np.isfinite(w)) or np.any(w < 0):
        raise RuntimeError("probability tensor contains either `inf`, `nan` or element < 0")
    totals = w.sum(axis=1)
    if rows and (categories == 0 or np.any(totals <= 0)):
        raise RuntimeError("invalid multinomial distribution (sum of probabilities <= 0)")
    if replacement:
        cdf = np.cumsum(w, axis=1)
        cdf /= cdf[:, -1:]  # the last entry is exactly 1, above every u
        out = np.stack([np.searchsorted(cdf[r], u[r], side="right") for r in range(rows)]) if rows else \
            np.zeros((0, num_samples), dtype=np.int64)
    else:
        if rows and np.any((w > 0).sum(axis=1) < num_samples):
            raise RuntimeError("invalid multinomial distribution (with replacement=False, not enough non-negative "
                               "category to sample)")
        with np.errstate(divide="ignore"):
            keys = -np.log1p(-u) / w  # weight 0: an infinite key, never among the chosen
        out = np.argsort(keys, axis=1, kind="stable")[:, :num_samples]
    out = out.astype(np.int64)
    return _stored(out if input.ndim == 2 else out.reshape(num_samples), dt.int64)


# ---- in-place samplers (Tensor methods) ----

def _from_to_args(args: tuple, kwargs: dict, fn: str, defaults: tuple) -> tuple:
    """(from, to) from positional args and the keywords 'from' and 'to' (Python can't name a parameter 'from')."""
    names = ("from", "to")
    values = dict(zip(names, defaults))
    if len(args) > 2:
        raise TypeError(f"{fn}() takes at most 2 positional arguments ({len(args)} given)")
    for name, v in zip(names, args):
        values[name] = v
    for k, v in kwargs.items():
        if k not in names:
            raise TypeError(f"{fn}() got an unexpected keyword argument '{k}'")
        values[k] = v
    return values["from"], values["to"]


def uniform_(self: Tensor, *args, generator: Generator | None = None, **kwargs) -> Tensor:
    """Fill with uniform samples from [from, to) (default [0, 1)): `uniform_(from=0, to=1)`."""
    low, high = _from_to_args(args, kwargs, "uniform_", (0.0, 1.0))
    d = self.dtype
    _need_float(d, "check_uniform_bounds")
    low, high = float(low), float(high)
    if low > high:
        raise RuntimeError(f"uniform_ expects to return a [from, to) range, but found from={_fmt(low)} > "
                           f"to={_fmt(high)}")
    biggest = float(ml_dtypes.finfo(d.np_dtype).max)
    if not -biggest <= low <= biggest:
        raise RuntimeError(f"from is out of bounds for {_CPP_NAME[d.name]}")
    if not -biggest <= high <= biggest:
        raise RuntimeError(f"to is out of bounds for {_CPP_NAME[d.name]}")
    if high - low > biggest:
        raise RuntimeError(f"uniform_ expects to-from <= std::numeric_limits<{_torch_name(d)}>::max(), but found "
                           f"to={_fmt(high)} and from={_fmt(low)} which result in to-from to exceed the limit")
    u = _uniform01(_gen(generator), tuple(self.shape), d)
    if (low, high) != (0.0, 1.0):
        u = _add(_mul(u, _c(high - low, u)), _c(low, u))
    return assign(self, cast_node(u, d))


def normal_(self: Tensor, mean: float = 0.0, std: float = 1.0, *, generator: Generator | None = None) -> Tensor:
    """Fill with normal samples N(mean, std**2)."""
    _check_std(std)
    _need_float(self.dtype, "normal_kernel_cpu")
    z = _normal01(_gen(generator), tuple(self.shape), _work(self.dtype))
    return assign(self, cast_node(_add(_mul(z, _c(float(std), z)), _c(float(mean), z)), self.dtype))


def random_(self: Tensor, *args, generator: Generator | None = None, **kwargs) -> Tensor:
    """Fill with uniform integers: `random_()` over the dtype's range, `random_(to)`, `random_(from, to)`."""
    if len(args) == 1 and "to" not in kwargs and "from" not in kwargs:
        args = (0, args[0])  # random_(to)
    low, high = _from_to_args(args, kwargs, "random_", (0, None))
    low = _int_arg(low, "random_", "from")
    high = _default_to(self.dtype) if high is None else _int_arg(high, "random_", "to")
    _check_from_to(low, high, self.dtype)
    return assign(self, cast_node(_random_ints(_gen(generator), tuple(self.shape), low, high), self.dtype))


def bernoulli_(self: Tensor, p=0.5, *, generator: Generator | None = None) -> Tensor:
    """Fill with 0/1 samples: 1 with probability `p` (a number, or a tensor broadcast to self)."""
    gen = _gen(generator)
    if isinstance(p, Tensor):
        from lazytensor.shape import expand
        probs = expand(p, tuple(self.shape)).node  # PyTorch's expand error when p does not broadcast
        return assign(self, _bernoulli_node(gen, probs, self.dtype))
    _check_p(p)
    return assign(self, _bernoulli_scalar(gen, tuple(self.shape), float(p), self.dtype))


def exponential_(self: Tensor, lambd: float = 1.0, *, generator: Generator | None = None) -> Tensor:
    """Fill with exponential samples of rate `lambd`: -ln(1 - u) / lambd."""
    if not lambd > 0.0:
        raise RuntimeError(f"exponential_ expects lambda > 0.0, but found lambda={_fmt(lambd)}")
    if not self.dtype.is_floating_point:
        raise RuntimeError(f"Exponential distribution is a continuous probability distribution. dtype must be a "
                           f"floating point but you specified {_torch_name(self.dtype)}")
    u = _rand(_gen(generator), tuple(self.shape), _work(self.dtype))
    x = _mul(_ln(_sub(_c(1.0, u), u)), _c(-1.0 / float(lambd), u))
    return assign(self, cast_node(x, self.dtype))


def cauchy_(self: Tensor, median: float = 0.0, sigma: float = 1.0, *, generator: Generator | None = None) -> Tensor:
    """Fill with Cauchy samples: median + sigma * tan(pi * (u - 1/2))."""
    if not sigma > 0.0:
        raise RuntimeError(f"cauchy_ expects sigma > 0.0, but found sigma={_fmt(sigma)}")
    if not self.dtype.is_floating_point:
        raise RuntimeError(f"Cauchy distribution is a continuous probability distribution. dtype must be a "
                           f"floating point but you specified {_CPP_NAME[self.dtype.name]}")
    u = _rand(_gen(generator), tuple(self.shape), _work(self.dtype))
    t = _mul(_sub(u, _c(0.5, u)), _c(math.pi, u))
    tan = make(Op.DIV, (make(Op.SIN, (t,)), make(Op.COS, (t,))))
    return assign(self, cast_node(_add(_mul(tan, _c(float(sigma), u)), _c(float(median), u)), self.dtype))


def log_normal_(self: Tensor, mean: float = 1.0, std: float = 2.0, *, generator: Generator | None = None) -> Tensor:
    """Fill with log-normal samples: exp(N(mean, std**2))."""
    if not std > 0.0:
        raise RuntimeError(f"log_normal_ expects std > 0.0, but found std={_fmt(std)}")
    _need_float(self.dtype, "log_normal_cpu")
    z = _normal01(_gen(generator), tuple(self.shape), _work(self.dtype))
    x = _add(_mul(z, _c(float(std), z)), _c(float(mean), z))
    return assign(self, cast_node(make(Op.EXP2, (_mul(x, _c(1.0 / _LN2, x)),)), self.dtype))


def geometric_(self: Tensor, p: float, *, generator: Generator | None = None) -> Tensor:
    """Fill with geometric samples (trials to the first success, >= 1): ceil(ln(1 - u) / ln(1 - p))."""
    if not 0 < p < 1:
        raise RuntimeError(f"geometric_ expects p to be in (0, 1), but got p={_fmt(p)}")
    if self.dtype is dt.bool_:
        raise NotImplementedError("\"geometric_cpu\" not implemented for 'Bool'")
    work = _work(self.dtype) if self.dtype.is_floating_point else dt.float64
    u = _rand(_gen(generator), tuple(self.shape), work)
    x = _mul(_ln(_sub(_c(1.0, u), u)), _c(1.0 / math.log1p(-p), u))
    # ceil(x) = -floor(-x) = -(trunc(-x) - (-x < trunc(-x)))
    nx = make(Op.NEG, (x,))
    t = make(Op.TRUNC, (nx,))
    floor = _sub(t, make(Op.CAST, (make(Op.CMPLT, (nx, t)),), work))
    ceil = make(Op.NEG, (floor,))
    ceil = make(Op.MAX, (ceil, _c(1.0, ceil)))  # u = 0 gives x = 0: still one trial
    return assign(self, cast_node(ceil, self.dtype))


for _f in (uniform_, normal_, random_, bernoulli_, exponential_, cauchy_, log_normal_, geometric_):
    setattr(Tensor, _f.__name__, _f)
Tensor.bernoulli = lambda self, p=None, *, generator=None: bernoulli(self, p, generator=generator)
Tensor.bernoulli.__doc__ = bernoulli.__doc__
Tensor.multinomial = multinomial
