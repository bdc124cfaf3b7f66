"""Matrix products: matmul (`@`), mm, bmm, mv, dot, vdot, inner, outer/ger, addmm, addmv, baddbmm, einsum.

Every product is built from primitives in one canonical shape, which the code generator later
recognises as a contraction and emits as a tiled kernel:

    A (..., m, k) --RESHAPE--> (..., m, 1, k) --EXPAND--> (..., m, n, k)
    B (..., k, n) --PERMUTE--> (..., n, k) --RESHAPE--> (..., 1, n, k) --EXPAND--> (..., m, n, k)
    MUL, then SUM over the last axis (k), then RESHAPE the reduced axis (and any 1-d
    operand's dimension) away.

A 1-d operand enters the pattern directly as an (m=1, k) or (n=1, k) matrix, so every product
has the same form. float16/bfloat16 operands are cast to float32 first and the result is cast
back once, as PyTorch's CPU kernels accumulate them. Integer products stay in their dtype (the
wrap-around of a narrow integer sum is the same whether it happens once or at every step).

As in PyTorch, matmul and friends do not promote dtypes: operands must agree, and the errors
(types and messages) are PyTorch's, raised when the op is built.
"""
from __future__ import annotations

import numbers

from lazytensor.compiler import dtypes as dt
from lazytensor.compiler.ir import Node
from lazytensor.compiler.ops import Op, make, make_known
from lazytensor.tensor import Tensor, _torch_name, assign, cast_node, const, wrap

__all__ = ["matmul", "mm", "bmm", "mv", "dot", "vdot", "inner", "outer", "ger", "addmm", "addmv", "baddbmm",
           "einsum"]

# The names PyTorch's mm error prints for each dtype (C++ type names, as typeid renders them).
_CPP_NAME = {"float32": "float", "float64": "double", "float16": "c10::Half", "bfloat16": "c10::BFloat16",
             "int64": "long int", "int32": "int", "int16": "short int", "int8": "signed char",
             "uint8": "unsigned char", "bool": "bool"}


# ---- the canonical product over nodes ----

def _work_dtype(d: dt.DType) -> dt.DType:
    """The dtype a product accumulates in: float32 for the half types, else the operands' own."""
    return dt.float32 if d in (dt.float16, dt.bfloat16) else d


def _reshape(n: Node, shape: tuple) -> Node:
    return n if n.shape == shape else make(Op.RESHAPE, (n,), shape)


def _expand(n: Node, shape: tuple) -> Node:
    return n if n.shape == shape else make(Op.EXPAND, (n,), shape)


def _transpose_last(n: Node) -> Node:
    r = len(n.shape)
    return make(Op.PERMUTE, (n,), tuple(range(r - 2)) + (r - 1, r - 2))


def _product(a: Node, a_dims: tuple, b: Node, b_dims: tuple, *, b_transposed: bool, out_shape: tuple) -> Node:
    """The batched product of `a` viewed as (*batch_a, m, k) and `b`, in the accumulation dtype.

    `b` is (*batch_b, k, n) and gets permuted, or with `b_transposed` it is already laid out as
    (*batch_b, n, k) (a 1-d vector is (1, k) this way, so it needs no permute). Batch dims
    broadcast; the result is reshaped to `out_shape`. Shapes are checked by the caller.
    """
    *ba, m, k = a_dims
    if b_transposed:
        *bb, n, _ = b_dims
    else:
        *bb, _, n = b_dims
    batch = _broadcast_batch(tuple(ba), tuple(bb))
    work = _work_dtype(a.dtype)
    a, b = cast_node(a, work), cast_node(b, work)
    r = len(batch)
    full = batch + (m, n, k)
    a = _expand(_reshape(a, (1,) * (r - len(ba)) + tuple(ba) + (m, 1, k)), full)
    if not b_transposed:
        b = _transpose_last(_reshape(b, tuple(b_dims)))
    b = _expand(_reshape(b, (1,) * (r - len(bb)) + tuple(bb) + (1, n, k)), full)
    s = make(Op.SUM, (make(Op.MUL, (a, b)),), (r + 2,))
    return _reshape(s, tuple(out_shape))


# named once: `Op.X` is a slow attribute lookup in Python 3.11 (EnumType.__getattr__)
_RESHAPE, _EXPAND, _PERMUTE, _MUL, _SUM = Op.RESHAPE, Op.EXPAND, Op.PERMUTE, Op.MUL, Op.SUM


def _mm_2d(a: Node, b: Node) -> Node:
    """`_product` of an (m, k) and a (k, n) matrix of one dtype that needs no casts: the same nodes,
    built directly with the shapes they are known to have (this is `x @ w`, the hot path)."""
    (m, k), n = a.shape, b.shape[1]
    d = a.dtype
    full = (m, n, k)
    a3 = make_known(_RESHAPE, (a,), (m, 1, k), d, (m, 1, k))
    if n != 1:
        a3 = make_known(_EXPAND, (a3,), full, d, full)
    bt = make_known(_PERMUTE, (b,), (1, 0), d, (n, k))
    b3 = make_known(_RESHAPE, (bt,), (1, n, k), d, (1, n, k))
    if m != 1:
        b3 = make_known(_EXPAND, (b3,), full, d, full)
    s = make_known(_SUM, (make_known(_MUL, (a3, b3), None, d, full),), (2,), d, (m, n, 1))
    return make_known(_RESHAPE, (s,), (m, n), d, (m, n))


def _broadcast_batch(a: tuple, b: tuple) -> tuple:
    """Broadcast batch shapes with ATen's infer_size message."""
    r = max(len(a), len(b))
    a, b = (1,) * (r - len(a)) + a, (1,) * (r - len(b)) + b
    out = []
    for i, (x, y) in enumerate(zip(a, b)):
        if x != y and x != 1 and y != 1:
            raise RuntimeError(f"The size of tensor a ({x}) must match the size of tensor b ({y}) at "
                               f"non-singleton dimension {i}")
        out.append(y if x == 1 else x)
    return tuple(out)


def _numel(shape) -> int:
    out = 1
    for d in shape:
        out *= d
    return out


# ---- argument checks with PyTorch's messages ----

def _need_tensor(x, fn: str, name: str, pos: int) -> None:
    if not isinstance(x, Tensor):
        raise TypeError(f"{fn}(): argument '{name}' (position {pos}) must be Tensor, not {type(x).__name__}")


def _no_bool(kernel: str, *tensors: Tensor) -> None:
    """PyTorch's CPU product kernels have no bool version."""
    for t in tensors:
        if t.dtype is dt.bool_:
            raise NotImplementedError(f"\"{kernel}\" not implemented for 'Bool'")


def _check_mm(s1: tuple, s2: tuple, d1: dt.DType, d2: dt.DType) -> None:
    if s1[1] != s2[0]:
        raise RuntimeError(f"mat1 and mat2 shapes cannot be multiplied ({s1[0]}x{s1[1]} and {s2[0]}x{s2[1]})")
    if d1 is not d2:
        raise RuntimeError(f"expected m1 and m2 to have the same dtype, but got: {_CPP_NAME[d1.name]} != "
                           f"{_CPP_NAME[d2.name]}")


def _check_mv(mat: tuple, vec: tuple, mat_dtype: dt.DType, vec_dtype: dt.DType, input_size: int | None = None,
              input_dtype: dt.DType | None = None) -> None:
    rows = mat[0] if input_size is None else input_size
    if mat[1] != vec[0] or rows not in (1, mat[0]):
        raise RuntimeError(f"size mismatch, got input ({rows}), mat ({mat[0]}x{mat[1]}), vec ({vec[0]})")
    input_dtype = vec_dtype if input_dtype is None else input_dtype
    if input_dtype is not mat_dtype or mat_dtype is not vec_dtype:
        raise RuntimeError(f"addmv input tensors must have the same dtype, but got {_torch_name(input_dtype)}, "
                           f"{_torch_name(mat_dtype)}, and {_torch_name(vec_dtype)}")


def _check_bmm(s1: tuple, s2: tuple, d1: dt.DType, d2: dt.DType) -> None:
    if s2[0] != s1[0] or s2[1] != s1[2]:
        raise RuntimeError(f"Expected size for first two dimensions of batch2 tensor to be: [{s1[0]}, {s1[2]}] "
                           f"but got: [{s2[0]}, {s2[1]}].")
    if d1 is not d2:
        raise RuntimeError(f"expected scalar type {_torch_name(d1)} but found {_torch_name(d2)}")


def _check_dot(a: Tensor, b: Tensor) -> None:
    if a.ndim != 1 or b.ndim != 1:
        raise RuntimeError(f"1D tensors expected, but got {a.ndim}D and {b.ndim}D tensors")
    if a.dtype is not b.dtype:
        raise RuntimeError(f"dot : expected both vectors to have same dtype, but found {_torch_name(a.dtype)} "
                           f"and {_torch_name(b.dtype)}")
    if a.shape[0] != b.shape[0]:
        n, m = a.shape[0], b.shape[0]
        raise RuntimeError(f"inconsistent tensor size, expected tensor [{n}] and src [{m}] to have the same "
                           f"number of elements, but got {n} and {m} elements respectively")
    _no_bool("dot", a)


# ---- the products ----

def dot(input: Tensor, tensor: Tensor) -> Tensor:
    """Inner product of two 1-d tensors of the same dtype (a 0-d result)."""
    _need_tensor(input, "dot", "input", 1)
    _need_tensor(tensor, "dot", "tensor", 2)
    _check_dot(input, tensor)
    k = input.shape[0]
    n = _product(input.node, (1, k), tensor.node, (1, k), b_transposed=True, out_shape=())
    return wrap(cast_node(n, input.dtype))


def vdot(input: Tensor, other: Tensor) -> Tensor:
    """dot with the first argument conjugated: the same as dot for real tensors."""
    _need_tensor(input, "vdot", "input", 1)
    _need_tensor(other, "vdot", "other", 2)
    return dot(input, other)


def mm(input: Tensor, mat2: Tensor) -> Tensor:
    """Matrix product of two 2-d tensors of the same dtype (no broadcasting)."""
    _need_tensor(input, "mm", "input", 1)
    _need_tensor(mat2, "mm", "mat2", 2)
    if input.ndim != 2:
        raise RuntimeError("self must be a matrix")
    if mat2.ndim != 2:
        raise RuntimeError("mat2 must be a matrix")
    _check_mm(tuple(input.shape), tuple(mat2.shape), input.dtype, mat2.dtype)
    _no_bool("addmm_impl_cpu_", input)
    return wrap(cast_node(_mm_node(input, mat2), input.dtype))


def _mm_node(a: Tensor, b: Tensor) -> Node:
    (m, k), (_, n) = a.shape, b.shape
    return _product(a.node, (m, k), b.node, (k, n), b_transposed=False, out_shape=(m, n))


def mv(input: Tensor, vec: Tensor) -> Tensor:
    """Matrix-vector product: (m, k) @ (k,) -> (m,)."""
    _need_tensor(input, "mv", "input", 1)
    _need_tensor(vec, "mv", "vec", 2)
    if input.ndim != 2 or vec.ndim != 1:
        raise RuntimeError(f"vector + matrix @ vector expected, got 1, {input.ndim}, {vec.ndim}")
    _check_mv(tuple(input.shape), tuple(vec.shape), input.dtype, vec.dtype)
    _no_bool("addmv_impl_cpu", input)
    return wrap(cast_node(_mv_node(input, vec), input.dtype))


def _mv_node(mat: Tensor, vec: Tensor) -> Node:
    m, k = mat.shape
    return _product(mat.node, (m, k), vec.node, (1, k), b_transposed=True, out_shape=(m,))


def bmm(input: Tensor, mat2: Tensor) -> Tensor:
    """Batched matrix product of two 3-d tensors: (b, n, m) @ (b, m, p) -> (b, n, p), no broadcasting."""
    _need_tensor(input, "bmm", "input", 1)
    _need_tensor(mat2, "bmm", "mat2", 2)
    if input.ndim != 3:
        raise RuntimeError("batch1 must be a 3D tensor")
    if mat2.ndim != 3:
        raise RuntimeError("batch2 must be a 3D tensor")
    _check_bmm(tuple(input.shape), tuple(mat2.shape), input.dtype, mat2.dtype)
    _no_bool("bmm", input)
    return wrap(cast_node(_bmm_node(input, mat2), input.dtype))


def _bmm_node(a: Tensor, b: Tensor) -> Node:
    (bs, m, k), (_, _, n) = a.shape, b.shape
    return _product(a.node, (bs, m, k), b.node, (bs, k, n), b_transposed=False, out_shape=(bs, m, n))


def matmul(input: Tensor, other: Tensor) -> Tensor:
    """PyTorch's matmul: dot, mv, mm or a broadcast batched product, by the operands' dims."""
    if type(input) is Tensor and type(other) is Tensor:
        a, b = input.node, other.node
        if (len(a.shape) == 2 and len(b.shape) == 2 and a.dtype is b.dtype and a.shape[1] == b.shape[0]
                and _work_dtype(a.dtype) is a.dtype and a.dtype is not dt.bool_):
            return wrap(_mm_2d(a, b))  # mm's checks pass and its casts are no-ops
    _need_tensor(input, "matmul", "input", 1)
    _need_tensor(other, "matmul", "other", 2)
    d1, d2 = input.ndim, other.ndim
    if d1 == 0 or d2 == 0:
        raise RuntimeError(f"both arguments to matmul need to be at least 1D, but they are {d1}D and {d2}D")
    if d1 == 1 and d2 == 1:
        return dot(input, other)
    if d1 == 2 and d2 == 1:
        return mv(input, other)
    if d2 == 2 and d1 <= 2:
        if d1 == 2:
            return mm(input, other)
        # (k,) @ (k, n): PyTorch runs mm on (1, k) and squeezes the row away
        k, n = input.shape[0], other.shape[1]
        _check_mm((1, k), tuple(other.shape), input.dtype, other.dtype)
        _no_bool("addmm_impl_cpu_", input)
        out = _product(input.node, (1, k), other.node, tuple(other.shape), b_transposed=False, out_shape=(n,))
        return wrap(cast_node(out, input.dtype))
    s1, s2 = tuple(input.shape), tuple(other.shape)
    if _should_fold(input, other):
        _check_folded(input, other)
    else:
        _check_batched(input, other)
    # one canonical product over the broadcast batch dims; 1-d operands enter as (1, k) / (1, n)
    a_dims = s1 if d1 > 1 else (1,) + s1
    if d2 > 1:
        b_dims, b_transposed = s2, False
    else:
        b_dims, b_transposed = (1,) + s2, True
    batch = _broadcast_batch(a_dims[:-2], b_dims[:-2])
    out_shape = batch + ((a_dims[-2],) if d1 > 1 else ()) + ((s2[-1],) if d2 > 1 else ())
    out = _product(input.node, a_dims, other.node, b_dims, b_transposed=b_transposed, out_shape=out_shape)
    return wrap(cast_node(out, input.dtype))


def _should_fold(t1: Tensor, t2: Tensor) -> bool:
    """ATen's should_fold: whether matmul reaches mm/mv (folding batch dims) instead of bmm.

    The result is the same either way; this only picks the path whose error messages PyTorch
    shows.
    """
    d1, d2 = t1.ndim, t2.ndim
    larger = d1 >= d2
    big, small_dim = (d1, d2) if larger else (d2, d1)
    if not (big >= 3 and small_dim <= 2):
        return False
    if (t2 if larger else t1).requires_grad:
        return True
    if d1 == 2:
        return False
    shape, strides, _ = (t1 if larger else t2)._strided()
    if not larger:  # the transposed view of the bigger operand
        shape = shape[:-2] + (shape[-1], shape[-2])
        strides = strides[:-2] + (strides[-1], strides[-2])
    if _numel(shape) == 0:
        return True
    return all(strides[i] == strides[i + 1] * shape[i + 1] for i in range(big - 2))


def _check_folded(t1: Tensor, t2: Tensor) -> None:
    """The checks of matmul's folded path: mm or mv on the bigger operand folded to a matrix."""
    if t1.ndim >= t2.ndim:
        big, small = tuple(t1.shape), t2
        big_dtype, small_dtype = t1.dtype, t2.dtype
    else:
        s = tuple(t2.shape)
        big, small = s[:-2] + (s[-1], s[-2]), t1
        big_dtype, small_dtype = t2.dtype, t1.dtype
    folded = (_numel(big[:-1]), big[-1])
    if small.ndim == 2:
        other = tuple(small.shape) if t1.ndim >= t2.ndim else (small.shape[1], small.shape[0])
        _check_mm(folded, other, big_dtype, small_dtype)
        _no_bool("addmm_impl_cpu_", t1)
    else:
        _check_mv(folded, tuple(small.shape), big_dtype, small_dtype)
        _no_bool("addmv_impl_cpu", t1)


def _check_batched(t1: Tensor, t2: Tensor) -> None:
    """The checks of matmul's bmm path, on the operands expanded to 3-d."""
    s1, s2 = tuple(t1.shape), tuple(t2.shape)
    n = s1[-2] if len(s1) > 1 else 1
    m1 = s1[-1]
    m2 = s2[-2] if len(s2) > 1 else s2[0]
    p = s2[-1] if len(s2) > 1 else 1
    batch = _broadcast_batch(s1[:-2] if len(s1) > 1 else (), s2[:-2] if len(s2) > 1 else ())
    b = _numel(batch)
    _check_bmm((b, n, m1), (b, m2, p), t1.dtype, t2.dtype)
    _no_bool("bmm", t1)


def inner(input: Tensor, other: Tensor) -> Tensor:
    """Sum of products over the last dims: out[i..., j...] = sum_k input[i..., k] * other[j..., k]."""
    _need_tensor(input, "inner", "input", 1)
    _need_tensor(other, "inner", "other", 2)
    if input.ndim == 0 or other.ndim == 0:
        from lazytensor.elementwise import mul
        return mul(input, other)
    s1, s2 = tuple(input.shape), tuple(other.shape)
    if s1[-1] != s2[-1]:
        raise RuntimeError(f"inner() the last dimension must match on both input tensors but got shapes "
                           f"{list(s1)} and {list(s2)}")
    if input.dtype is not other.dtype:
        raise RuntimeError("both inputs should have same dtype")
    _no_bool("dot" if len(s1) == len(s2) == 1 else "addmm_impl_cpu_", input)
    k = s1[-1]
    out = _product(input.node, (_numel(s1[:-1]), k), other.node, (_numel(s2[:-1]), k), b_transposed=True,
                   out_shape=s1[:-1] + s2[:-1])
    return wrap(cast_node(out, input.dtype))


def outer(input: Tensor, vec2: Tensor) -> Tensor:
    """Outer product of two 1-d tensors (dtypes promote, as for `*`)."""
    _need_tensor(input, "outer", "input", 1)
    _need_tensor(vec2, "outer", "vec2", 2)
    if input.ndim != 1:
        raise RuntimeError(f"outer: Expected 1-D argument self, but got {input.ndim}-D")
    if vec2.ndim != 1:
        raise RuntimeError(f"outer: Expected 1-D argument vec2, but got {vec2.ndim}-D")
    from lazytensor.elementwise import mul
    n = input.shape[0]
    return mul(wrap(make(Op.RESHAPE, (input.node,), (n, 1))), vec2)


def ger(input: Tensor, vec2: Tensor) -> Tensor:
    """outer (its older name)."""
    return outer(input, vec2)


# ---- beta * input + alpha * product ----

def _scaled_sum(input: Tensor, target: tuple, prod: Node, dtype: dt.DType, beta, alpha) -> Tensor:
    """beta * input + alpha * prod in the accumulation dtype, rounded once to `dtype`.

    beta == 0 ignores input entirely (nan and inf in it do not propagate), as PyTorch.
    For integer dtypes alpha and beta are truncated to integers, as PyTorch converts them.
    """
    work = prod.dtype
    if alpha != 1:
        prod = make(Op.MUL, (prod, const(alpha, work, prod.shape)))
    if beta != 0:
        from lazytensor.shape import expand
        inp = cast_node(expand(input, target).node, work)
        if beta != 1:
            inp = make(Op.MUL, (inp, const(beta, work, inp.shape)))
        prod = make(Op.ADD, (inp, prod))
    return wrap(cast_node(prod, dtype))


def _check_scalars(alpha, beta) -> None:
    for name, v in (("alpha", alpha), ("beta", beta)):
        if not isinstance(v, numbers.Number) or isinstance(v, complex):
            raise TypeError(f"argument '{name}' must be Number, not {type(v).__name__}")


def addmm(input: Tensor, mat1: Tensor, mat2: Tensor, *, beta=1, alpha=1) -> Tensor:
    """beta * input + alpha * (mat1 @ mat2), input broadcast to the product's shape."""
    _need_tensor(input, "addmm", "input", 1)
    _need_tensor(mat1, "addmm", "mat1", 2)
    _need_tensor(mat2, "addmm", "mat2", 3)
    _check_scalars(alpha, beta)
    if mat1.ndim != 2:
        raise RuntimeError(f"mat1 must be a matrix, got {mat1.ndim}-D tensor")
    if mat2.ndim != 2:
        raise RuntimeError(f"mat2 must be a matrix, got {mat2.ndim}-D tensor")
    s1, s2 = tuple(mat1.shape), tuple(mat2.shape)
    if s1[1] != s2[0]:
        raise RuntimeError(f"mat1 and mat2 shapes cannot be multiplied ({s1[0]}x{s1[1]} and {s2[0]}x{s2[1]})")
    from lazytensor.shape import expand
    expand(input, (s1[0], s2[1]))  # PyTorch's expand error when input does not broadcast
    if mat1.dtype is not mat2.dtype:
        raise RuntimeError(f"mat1 and mat2 must have the same dtype, but got {_torch_name(mat1.dtype)} and "
                           f"{_torch_name(mat2.dtype)}")
    if input.dtype is not mat2.dtype:
        raise RuntimeError(f"self and mat2 must have the same dtype, but got {_torch_name(input.dtype)} and "
                           f"{_torch_name(mat2.dtype)}")
    _no_bool("addmm_impl_cpu_", mat1)
    return _scaled_sum(input, (s1[0], s2[1]), _mm_node(mat1, mat2), mat1.dtype, *_scalars(mat1.dtype, beta, alpha))


def _scalars(d: dt.DType, beta, alpha) -> tuple:
    if d.is_floating_point:
        return float(beta), float(alpha)
    return int(beta), int(alpha)


def addmv(input: Tensor, mat: Tensor, vec: Tensor, *, beta=1, alpha=1) -> Tensor:
    """beta * input + alpha * (mat @ vec), input broadcast to (mat.shape[0],)."""
    _need_tensor(input, "addmv", "input", 1)
    _need_tensor(mat, "addmv", "mat", 2)
    _need_tensor(vec, "addmv", "vec", 3)
    _check_scalars(alpha, beta)
    if mat.ndim != 2 or vec.ndim != 1 or input.ndim > 1:
        raise RuntimeError(f"vector + matrix @ vector expected, got {input.ndim}, {mat.ndim}, {vec.ndim}")
    size = input.shape[0] if input.ndim else 1
    _check_mv(tuple(mat.shape), tuple(vec.shape), mat.dtype, vec.dtype, input_size=size, input_dtype=input.dtype)
    _no_bool("addmv_impl_cpu", mat)
    return _scaled_sum(input, (mat.shape[0],), _mv_node(mat, vec), mat.dtype, *_scalars(mat.dtype, beta, alpha))


def baddbmm(input: Tensor, batch1: Tensor, batch2: Tensor, *, beta=1, alpha=1) -> Tensor:
    """beta * input + alpha * bmm(batch1, batch2), input broadcast to the product's shape."""
    _need_tensor(input, "baddbmm", "input", 1)
    _need_tensor(batch1, "baddbmm", "batch1", 2)
    _need_tensor(batch2, "baddbmm", "batch2", 3)
    _check_scalars(alpha, beta)
    if batch1.ndim != 3:
        raise RuntimeError("batch1 must be a 3D tensor")
    if batch2.ndim != 3:
        raise RuntimeError("batch2 must be a 3D tensor")
    s1, s2 = tuple(batch1.shape), tuple(batch2.shape)
    if s2[0] != s1[0] or s2[1] != s1[2]:
        raise RuntimeError(f"Expected size for first two dimensions of batch2 tensor to be: [{s1[0]}, {s1[2]}] "
                           f"but got: [{s2[0]}, {s2[1]}].")
    target = (s1[0], s1[1], s2[2])
    from lazytensor.shape import expand
    expand(input, target)  # PyTorch's expand error when input does not broadcast
    if input.dtype is not batch1.dtype:
        raise RuntimeError(f"Input dtypes must be the same, got: input {_CPP_NAME[input.dtype.name]}, batch1: "
                           f"{_CPP_NAME[batch1.dtype.name]}, batch2: {_CPP_NAME[batch2.dtype.name]}")
    if batch1.dtype is not batch2.dtype:
        raise RuntimeError(f"expected scalar type {_torch_name(batch1.dtype)} but found {_torch_name(batch2.dtype)}")
    _no_bool("bmm", batch1)
    return _scaled_sum(input, target, _bmm_node(batch1, batch2), batch1.dtype,
                       *_scalars(batch1.dtype, beta, alpha))


# ---- einsum ----

_ELLIPSIS = "."  # one label stands for all the dims an ellipsis covers, expanded per operand below


def einsum(equation: str, *operands) -> Tensor:
    """Einstein summation: `einsum('ij,jk->ik', a, b)`; ellipsis, implicit output and diagonals.

    Operands are contracted left to right, each pair as one canonical product (the indices kept
    from both, then the summed ones last), as PyTorch's einsum does without opt_einsum.
    """
    if len(operands) == 1 and isinstance(operands[0], (list, tuple)):
        operands = tuple(operands[0])
    for i, x in enumerate(operands):
        _need_tensor(x, "einsum", f"operands[{i}]", 2)
    lhs, arrow, rhs = equation.replace(" ", "").partition("->")
    terms = lhs.split(",")
    if len(terms) > len(operands):
        raise RuntimeError("einsum(): fewer operands were provided than specified in the equation")
    if len(terms) < len(operands):
        raise RuntimeError("einsum(): more operands were provided than specified in the equation")
    if not operands:
        raise RuntimeError("einsum(): must provide at least one operand")
    dtype = operands[0].dtype
    for x in operands[1:]:
        if x.dtype is not dtype:
            raise RuntimeError(f"expected scalar type {_torch_name(dtype)} but found {_torch_name(x.dtype)}")

    # labels per operand, with the ellipsis expanded into numbered labels ('.0', '.1', ...)
    ell_rank = 0
    labels: list[list[str]] = []
    pos = 0
    for term, x in zip(terms, operands):
        subs = _parse_term(term, pos, "operand")
        pos += len(term) + 1
        named = sum(1 for s in subs if s != _ELLIPSIS)
        if _ELLIPSIS in subs:
            if named > x.ndim:
                raise RuntimeError(f"einsum(): the number of subscripts in the equation ({named}) is more than the "
                                   f"number of dimensions ({x.ndim}) for operand {len(labels)}")
            ell_rank = max(ell_rank, x.ndim - named)
        elif named != x.ndim:
            raise RuntimeError(f"einsum(): the number of subscripts in the equation ({named}) does not match the "
                               f"number of dimensions ({x.ndim}) for operand {len(labels)} and no ellipsis was given")
        labels.append(subs)
    expanded = []
    for subs, x in zip(labels, operands):
        e = x.ndim - sum(1 for s in subs if s != _ELLIPSIS)
        out: list[str] = []
        for s in subs:
            # an operand's ellipsis covers the last `e` of the broadcast ellipsis dims
            out.extend([f".{ell_rank - e + j}" for j in range(e)] if s == _ELLIPSIS else [s])
        expanded.append(out)
    ell_labels = [f".{j}" for j in range(ell_rank)]

    # the implicit output: labels seen once in the whole equation (before diagonals collapse)
    counts: dict[str, int] = {}
    for subs in expanded:
        for s in subs:
            counts[s] = counts.get(s, 0) + 1

    # sizes per label (size-1 dims broadcast); repeated labels within an operand are diagonals
    sizes: dict[str, int] = {}
    nodes = []
    for i, (subs, x) in enumerate(zip(expanded, operands)):
        n, subs = _take_diagonals(x.node, subs, i)
        expanded[i] = subs
        for s, d in zip(subs, n.shape):
            seen = sizes.get(s)
            if seen is None or seen == 1:
                sizes[s] = d
            elif d != 1 and d != seen:
                name = "..." if s.startswith(".") else s
                raise RuntimeError(f"einsum(): subscript {name} has size {d} for operand {i} which does not "
                                   f"broadcast with previously seen size {seen}")
        nodes.append(n)

    if arrow:
        out_subs = _parse_term(rhs, len(lhs) + 2, "output")
        out_labels: list[str] = []
        for s in out_subs:
            if s == _ELLIPSIS:
                out_labels.extend(ell_labels)
                continue
            if s in out_labels:
                raise RuntimeError(f"einsum(): output subscript {s} appears more than once in the output")
            if s not in sizes:
                raise RuntimeError(f"einsum(): output subscript {s} does not appear in the equation for any "
                                   f"input operand")
            out_labels.append(s)
    else:
        out_labels = ell_labels + sorted(s for s, c in counts.items() if c == 1 and not s.startswith("."))

    work = _work_dtype(dtype)
    if dtype is dt.bool_ and any(s not in out_labels for subs in expanded for s in subs):
        if len(nodes) > 1:
            raise NotImplementedError("\"bmm\" not implemented for 'Bool'")
        work = dtype = dt.int64  # one operand summed: torch.sum's bool -> int64
    cur, cur_subs = cast_node(nodes[0], work), expanded[0]
    for i in range(1, len(nodes)):
        later = set(out_labels).union(*(set(s) for s in expanded[i + 1:]))
        cur, cur_subs = _contract_pair(cur, cur_subs, cast_node(nodes[i], work), expanded[i], later, sizes)
    cur, cur_subs = _sum_labels(cur, cur_subs, [s for s in cur_subs if s not in out_labels])
    # broadcast size-1 dims to the label's size and order as the output asks
    cur = _expand(cur, tuple(sizes[s] for s in cur_subs))
    order = tuple(cur_subs.index(s) for s in out_labels)
    if order != tuple(range(len(order))):
        cur = make(Op.PERMUTE, (cur,), order)
    return wrap(cast_node(cur, dtype))


def _parse_term(term: str, start: int, what: str) -> list[str]:
    subs: list[str] = []
    i = 0
    while i < len(term):
        c = term[i]
        if term.startswith("...", i):
            if _ELLIPSIS in subs:
                raise RuntimeError(f"einsum(): found '.' for {what} that is not part of any ellipsis")
            subs.append(_ELLIPSIS)
            i += 3
            continue
        if not (c.isascii() and c.isalpha()):
            raise RuntimeError(f"einsum(): invalid subscript given at index {start + i} in the equation string, "
                               f"subscripts must be in [a-zA-Z]")
        subs.append(c)
        i += 1
    return subs


def _take_diagonals(n: Node, subs: list[str], operand: int) -> tuple[Node, list[str]]:
    """Collapse each label repeated within one operand to its diagonal (a strided view)."""
    while True:
        dup = next((s for s in subs if subs.count(s) > 1), None)
        if dup is None:
            return n, subs
        i = subs.index(dup)
        j = subs.index(dup, i + 1)
        if n.shape[i] != n.shape[j]:
            raise RuntimeError(f"einsum(): subscript {dup} is repeated for operand {operand} but the sizes don't "
                               f"match, {n.shape[j]} != {n.shape[i]}")
        d = n.shape[i]
        rest = [a for a in range(len(subs)) if a not in (i, j)]
        n = make(Op.PERMUTE, (n,), tuple(rest) + (i, j)) if rest + [i, j] != list(range(len(subs))) else n
        lead = tuple(n.shape[:-2])
        # the diagonal of a (d, d) block: flat index r * (d + 1), read as column 0 of (d, d + 1)
        if d == 0:
            n = _reshape(make(Op.SHRINK, (n,), tuple((0, s) for s in lead) + ((0, 0), (0, 0))), lead + (0,))
        else:
            flat = _reshape(n, lead + (d * d,))
            padded = make(Op.PAD, (flat,), tuple((0, 0) for _ in lead) + ((0, d),))
            rows = _reshape(padded, lead + (d, d + 1))
            n = _reshape(make(Op.SHRINK, (rows,), tuple((0, s) for s in lead) + ((0, d), (0, 1))), lead + (d,))
        subs = [subs[a] for a in rest] + [dup]


def _sum_labels(n: Node, subs: list[str], drop: list[str]) -> tuple[Node, list[str]]:
    if not drop:
        return n, subs
    axes = tuple(subs.index(s) for s in drop)
    keep = [s for s in subs if s not in drop]
    n = make(Op.SUM, (n,), axes)
    return _reshape(n, tuple(d for i, d in enumerate(n.shape) if i not in axes)), keep


def _contract_pair(a: Node, a_subs: list[str], b: Node, b_subs: list[str], later: set,
                   sizes: dict) -> tuple[Node, list[str]]:
    """One pairwise step: labels ordered (both, only a, only b, summed); MUL; SUM the summed ones."""
    # labels nobody needs after this step and only one side has are summed on that side first
    a, a_subs = _sum_labels(a, a_subs, [s for s in a_subs if s not in later and s not in b_subs])
    b, b_subs = _sum_labels(b, b_subs, [s for s in b_subs if s not in later and s not in a_subs])
    batch = [s for s in a_subs if s in b_subs and s in later]
    only_a = [s for s in a_subs if s not in b_subs]
    only_b = [s for s in b_subs if s not in a_subs]
    summed = [s for s in a_subs if s in b_subs and s not in later]
    full = batch + only_a + only_b + summed
    shape = tuple(sizes[s] for s in full)

    def align(n: Node, subs: list[str]) -> Node:
        mine = [s for s in full if s in subs]
        order = tuple(subs.index(s) for s in mine)
        if order != tuple(range(len(order))):
            n = make(Op.PERMUTE, (n,), order)
        n = _reshape(n, tuple(n.shape[mine.index(s)] if s in subs else 1 for s in full))
        return _expand(n, shape)

    prod = make(Op.MUL, (align(a, a_subs), align(b, b_subs)))
    if not summed:
        return prod, full
    r = len(full) - len(summed)
    s = make(Op.SUM, (prod,), tuple(range(r, len(full))))
    return _reshape(s, shape[:r]), full[:r]


# ---- Tensor methods and operators ----

def _inplace(fn, name: str):
    def method(self: Tensor, *args, **kwargs) -> Tensor:
        out = fn(self, *args, **kwargs)
        if tuple(out.shape) != tuple(self.shape):
            raise RuntimeError(f"Bad in-place call: input tensor size {list(self.shape)} and output tensor size "
                               f"{list(out.shape)} should match")
        return assign(self, out.node)
    method.__name__ = name
    method.__doc__ = f"In-place {fn.__name__}."
    return method


for _f in (matmul, mm, bmm, mv, dot, vdot, inner, outer, ger, addmm, addmv, baddbmm):
    setattr(Tensor, _f.__name__, _f)
Tensor.addmm_ = _inplace(addmm, "addmm_")
Tensor.addmv_ = _inplace(addmv, "addmv_")
Tensor.baddbmm_ = _inplace(baddbmm, "baddbmm_")
Tensor.__matmul__ = lambda self, other: matmul(self, other) if isinstance(other, Tensor) else NotImplemented
Tensor.__rmatmul__ = lambda self, other: matmul(other, self) if isinstance(other, Tensor) else NotImplemented
