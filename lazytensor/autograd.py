"""Autograd: PyTorch's gradient surface over the IR's reverse mode (compiler/autodiff.py).

How it works. Every op that runs in grad mode with an input that requires grad gives its result a
`grad_fn`: an object named as PyTorch names it (`AddBackward0`, `MmBackward0`, ...) that records
the op's output node and its input nodes as they were when the op ran, with, for each input, where
that input's gradient goes next (the input's own grad_fn, or the leaf tensor itself). `backward`
walks these records from the output like PyTorch's engine, and at each one asks the compiler for
the gradient of the op's own subgraph (output node down to its input nodes) -- so a composite op
is differentiated through its primitives, and everything `backward` builds is IR: nothing runs
until a gradient is observed, and forward, backward and the optimizer's update can fuse.

Why per op and not one IR walk from the loss to the leaves: nodes are hash-consed, so `x.detach()`
has the very node of `x`, and a flushed tensor's node becomes a read of its buffer. Recording each
op's own input nodes makes a detached value (or anything computed without grad) a constant, as in
PyTorch, and makes flushing irrelevant to autograd.

Ops are tracked by one mechanism: `install()` wraps the op functions named in `GRAD_FN_NAMES` (in
their modules, on `Tensor` and in the `lazytensor` namespace) and every in-place `Tensor` method.
The outermost wrapper of a call also finds the user's source line, once (`compiler.ir.site`), and
every node the op builds records it without a stack walk of its own; the public ops without a
gradient (comparisons, logic, argmax...) get a wrapper that does only that (`_located`).

Composite ops whose primitive graph would be unstable to differentiate (softmax, log_softmax,
logsumexp, sigmoid, the losses in nn.functional) are built in a stable form (max-subtraction,
|x|-based softplus), so differentiating through their primitives is itself stable.
"""
from __future__ import annotations

import functools
import types
import weakref

from lazytensor import lazy
from lazytensor.compiler import autodiff
from lazytensor.compiler.build import like as _c
from lazytensor.compiler.ir import site as _site, user_site as _user_site
from lazytensor.compiler.ops import Op, make
from lazytensor.tensor import Tensor, const, wrap

__all__ = ["no_grad", "enable_grad", "set_grad_enabled", "inference_mode", "is_grad_enabled",
           "is_inference_mode_enabled"]


class _GradState:
    __slots__ = ("enabled", "inference", "inside")

    def __init__(self):
        self.enabled = True  # grad mode
        self.inference = False
        self.inside = False  # inside a tracked op: the ops it calls are its own business


# One instance: every op reads two of these flags, and an instance's slots read faster than a
# class's attributes.
_State = _GradState()


# ---- grad mode: context managers and decorators ----

class _Mode:
    """A grad-mode switch usable as a context manager, a decorator, or a bare decorator (`@no_grad`)."""

    _target = True

    def __new__(cls, *args, **kwargs):
        if len(args) == 1 and callable(args[0]) and not kwargs and cls is not set_grad_enabled:
            return cls()(args[0])  # used bare: @no_grad
        return super().__new__(cls)

    def __enter__(self):
        self._prev = (_State.enabled, _State.inference)
        _State.enabled = self._target
        return self

    def __exit__(self, *exc) -> bool:
        _State.enabled, _State.inference = self._prev
        return False

    def __call__(self, fn):
        @functools.wraps(fn)
        def run(*args, **kwargs):
            with self.__class__.__new__(self.__class__)._again(self):
                return fn(*args, **kwargs)
        return run

    def _again(self, like):
        self.__dict__.update(like.__dict__)
        return self

    def clone(self):
        """A fresh switch with the same setting."""
        return self.__class__.__new__(self.__class__)._again(self)


class no_grad(_Mode):
    """Ops inside record no gradient graph (results don't require grad)."""

    _target = False

    def __init__(self, fn=None):
        pass


class enable_grad(_Mode):
    """Turn grad mode back on inside a no_grad region."""

    _target = True

    def __init__(self, fn=None):
        pass


class set_grad_enabled(_Mode):
    """Set grad mode now (a function call) and restore it on leaving when used as a context manager."""

    def __init__(self, mode: bool):
        self._prev = (_State.enabled, _State.inference)
        self._target = bool(mode)
        _State.enabled = bool(mode)

    def __enter__(self):
        return self


class inference_mode(_Mode):
    """Like no_grad (for inference): nothing is recorded inside when `mode` is True."""

    def __init__(self, mode: bool = True):
        self._target = not mode
        self._mode = bool(mode)

    def __enter__(self):
        super().__enter__()
        _State.inference = self._mode
        return self


def is_grad_enabled() -> bool:
    """True when ops record gradient graphs."""
    return _State.enabled


def is_inference_mode_enabled() -> bool:
    """True inside inference_mode()."""
    return _State.inference


# ---- the records: grad_fn objects ----

class GradFn:
    """One op's record: output node, input nodes, and where each input's gradient goes next."""

    __slots__ = ("_out", "_inputs", "_freed", "_retain", "__weakref__")

    def __init__(self, out, inputs):
        self._out = out
        self._inputs = inputs  # [(node, next)], next: GradFn, a leaf Tensor, or None (a constant)
        self._freed = False
        self._retain = None  # weak reference to a non-leaf tensor that called retain_grad()

    def name(self) -> str:
        """The class name, as PyTorch's Node.name()."""
        return type(self).__name__

    @property
    def next_functions(self) -> tuple:
        """((next grad_fn or AccumulateGrad or None, 0), ...) per input, as in PyTorch."""
        out = []
        for _, nxt in self._inputs:
            if isinstance(nxt, Tensor):
                out.append((_class("AccumulateGrad")((), [(None, nxt)]), 0))
            else:
                out.append((nxt, 0))
        return tuple(out)

    @property
    def variable(self):
        """For AccumulateGrad: the leaf tensor."""
        return self._inputs[0][1]

    def __repr__(self) -> str:
        return f"<{type(self).__name__} object at {hex(id(self))}>"


_classes: dict[str, type] = {}

# grad_fns whose backward needs no saved forward value: PyTorch lets them run twice without retain_graph
_SAVES_NOTHING = {"AddBackward0", "SubBackward0", "NegBackward0", "SumBackward0", "SumBackward1", "ViewBackward0",
                  "ExpandBackward0", "TBackward0", "PermuteBackward0", "TransposeBackward0", "UnsqueezeBackward0",
                  "SqueezeBackward0", "SqueezeBackward1", "CloneBackward0", "CatBackward0", "StackBackward0",
                  "SelectBackward0", "SliceBackward0", "ToCopyBackward0", "UnbindBackward0", "SplitBackward0",
                  "FlipBackward0", "RepeatBackward0", "MeanBackward0", "MeanBackward1", "AliasBackward0",
                  "DiagonalBackward0", "RollBackward0", "Rot90Backward0", "TrilBackward0", "TriuBackward0"}


def _class(name: str) -> type:
    cls = _classes.get(name)
    if cls is None:
        cls = _classes[name] = type(name, (GradFn,), {"__slots__": ()})
    return cls


# ---- which input feeds the graph, and how ----

def _edge(t: Tensor):
    """(node, next) for a tensor used as an op input: next is its grad_fn, itself (a leaf that
    requires grad) or None (a constant). A view made by a tracked op follows its base, so that
    in-place writes to the base are seen by every view."""
    if not t.requires_grad:
        return t.node, None
    b = t._base
    if t.grad_fn is not None and b is not None and b.requires_grad:
        return b._node, (b.grad_fn if b.grad_fn is not None else b)
    return t.node, (t.grad_fn if t.grad_fn is not None else t)


def _tensors(args, kwargs) -> list:
    out = []
    for a in (*args, *kwargs.values()):
        if isinstance(a, Tensor):
            out.append(a)
        elif isinstance(a, (list, tuple)):
            out.extend(x for x in a if isinstance(x, Tensor))
    return out


def _separate(tracked: list) -> None:
    """Distinct tensors sharing one node (hash-consing merges `zeros(3)` made twice) get their own
    storage, so that each input of an op is a distinct node the gradient can tell apart."""
    seen: dict[int, object] = {}
    clash = []
    for t in tracked:
        n, nxt = _edge(t)
        other = seen.setdefault(id(n), nxt)
        if other is not nxt and nxt is not None and other is not None:
            clash.append(t)
    if clash:
        lazy.realize([t for t in tracked if id(_edge(t)[0]) in {id(_edge(c)[0]) for c in clash}])


def _record(name: str, out_node, inputs) -> GradFn:
    return _class(name)(out_node, inputs)


def _attach(out, name: str, inputs, tensors) -> None:
    if isinstance(out, Tensor):
        if out.dtype.is_floating_point and not any(out is t for t in tensors):
            out.requires_grad = True
            out.grad_fn = _record(name, out.node, inputs)
    elif isinstance(out, (tuple, list)):
        for o in out:
            _attach(o, name, inputs, tensors)


def _tracked(fn, name):
    """`fn` recording a grad_fn named `name` (a string, or a function of the call's arguments)."""
    @functools.wraps(fn)
    def op(*args, **kwargs):
        # The outermost public call finds the user's line once; every node the op builds takes it.
        outer = _site[0] is None
        if outer:
            _site[0] = _user_site(1)
        try:
            if _State.inside or not _State.enabled:
                return fn(*args, **kwargs) if kwargs else fn(*args)
            # the common case, cheaply: plain tensor, number and None arguments, none requiring grad
            for a in (args if not kwargs else (*args, *kwargs.values())):
                if type(a) is Tensor:
                    if a.requires_grad:
                        break
                elif a is not None and (not isinstance(a, (int, float)) or isinstance(a, Tensor)):
                    break
            else:
                return fn(*args, **kwargs) if kwargs else fn(*args)
            tensors = _tensors(args, kwargs)
            tracked = [t for t in tensors if t.requires_grad]
            if not tracked:
                return fn(*args, **kwargs)
            _separate(tracked)
            _State.inside = True
            lazy.hold()
            try:
                out = fn(*args, **kwargs)
                inputs = _inputs(tensors)
                _attach(out, name if isinstance(name, str) else name(*args, **kwargs), inputs, tensors)
            finally:
                _State.inside = False
                lazy.release()
            return out
        finally:
            if outer:
                _site[0] = None
    op._autograd_original = fn
    return op


def _located(fn):
    """`fn` (a public op without a gradient) with the user's line found once for the nodes it builds."""
    @functools.wraps(fn)
    def op(*args, **kwargs):
        if _site[0] is not None:
            return fn(*args, **kwargs)
        _site[0] = _user_site(1)
        try:
            return fn(*args, **kwargs) if kwargs else fn(*args)
        finally:
            _site[0] = None
    op._autograd_original = fn
    return op


def _inputs(tensors) -> list:
    inputs, seen = [], set()
    for t in tensors:
        n, nxt = _edge(t)
        key = (id(n), id(nxt))
        if key not in seen:
            seen.add(key)
            inputs.append((n, nxt))
    return inputs


def _tracked_inplace(fn, name):
    """An in-place method recording the new value of the written base as an op over the old one."""
    @functools.wraps(fn)
    def method(self, *args, **kwargs):
        outer = _site[0] is None
        if outer:
            _site[0] = _user_site(1)
        try:
            return _inplace_call(fn, name, self, args, kwargs)
        finally:
            if outer:
                _site[0] = None
    method._autograd_original = fn
    return method


def _inplace_call(fn, name, self, args, kwargs):
    """The body of a tracked in-place method: record the write when an input requires grad."""
    if _State.inside or not _State.enabled:
        return fn(self, *args, **kwargs)
    tensors = _tensors((self, *args), kwargs)
    base = self._base if self._base is not None else self
    if not any(t.requires_grad for t in tensors) and not base.requires_grad:
        return fn(self, *args, **kwargs)
    _check_inplace(self, through_view=fn.__name__ == "_setitem")
    _separate([t for t in tensors if t.requires_grad])
    # the old value of the written base, and the other inputs, as they are before the write
    inputs = _inputs([base] + [t for t in tensors if t is not self])
    _State.inside = True
    lazy.hold()
    try:
        out = fn(self, *args, **kwargs)
        label = name if isinstance(name, str) else name(self, *args, **kwargs)
        if any(nxt is not None for _, nxt in inputs):
            base.requires_grad = True
            base.grad_fn = _record(label if base is self else "CopySlices", base._node, inputs)
            if base is not self:
                self.requires_grad = True
                self.grad_fn = _record("AsStridedBackward0", self.node, [(base._node, base.grad_fn)])
    finally:
        _State.inside = False
        lazy.release()
    return out


def _check_inplace(t: Tensor, through_view: bool = False) -> None:
    """PyTorch's refusal to write in place into a leaf that requires grad (or a view of one)."""
    if not _State.enabled:
        return
    if t.requires_grad and t.grad_fn is None and through_view:
        raise RuntimeError("a view of a leaf Variable that requires grad is being used in an in-place operation.")
    if t.requires_grad and t.grad_fn is None:
        raise RuntimeError("a leaf Variable that requires grad is being used in an in-place operation.")
    b = t._base
    if b is not None and b.requires_grad and b.grad_fn is None:
        raise RuntimeError("a view of a leaf Variable that requires grad is being used in an in-place operation.")


# ---- the engine ----

def _run(roots: list, seeds: list, targets: list | None, retain_graph: bool, create_graph: bool) -> dict:
    """Propagate `seeds` from `roots` back through the records.

    Returns {id(next): (next, gradient)} for the leaves (all of them when `targets` is None) and for the
    records named in `targets`; gradients are Tensors (tracked ones under create_graph).
    """
    grads: dict[int, Tensor] = {}
    owner: dict[int, object] = {}
    fns = []
    for t, s in zip(roots, seeds):
        n, nxt = _edge(t)
        if n is not t.node:  # a view following its base: one step from the view to the base
            nxt = _record("AsStridedBackward0", t.node, [(n, nxt)])
        _add_grad(grads, owner, nxt, s, create_graph)
        fns.append(nxt)
    order = _order([f for f in fns if isinstance(f, GradFn)])
    wanted = None if targets is None else {id(x) for x in targets}
    result: dict[int, Tensor] = {}
    with set_grad_enabled(create_graph):
        for fn in order:
            g = grads.get(id(fn))
            if g is None:
                continue
            if wanted is not None and id(fn) in wanted:
                result[id(fn)] = (fn, g)
            if fn._retain is not None and (r := fn._retain()) is not None:
                r.grad = g if r.grad is None else _sum(r.grad, g, create_graph)
            if fn._freed:
                raise RuntimeError(
                    "Trying to backward through the graph a second time (or directly access saved tensors after "
                    "they have already been freed). Saved intermediate values of the graph are freed when you call "
                    ".backward() or autograd.grad(). Specify retain_graph=True if you need to backward through the "
                    "graph a second time or if you need to access saved tensors after calling backward.")
            for nxt, gi in _step(fn, g, create_graph):
                _add_grad(grads, owner, nxt, gi, create_graph)
            if not retain_graph and type(fn).__name__ not in _SAVES_NOTHING:
                fn._freed = True
    for key, g in grads.items():
        nxt = owner[key]
        if isinstance(nxt, Tensor) and (wanted is None or key in wanted):
            result[key] = (nxt, g)
    return result


def _sum(a: Tensor, b: Tensor, create_graph: bool) -> Tensor:
    if create_graph:
        from lazytensor import elementwise
        return elementwise.add(a, b)
    return wrap(make(Op.ADD, (a.node, b.node)))


def _add_grad(grads, owner, nxt, g, create_graph) -> None:
    if nxt is None:
        return
    key = id(nxt)
    owner[key] = nxt
    old = grads.get(key)
    grads[key] = g if old is None else _sum(old, g, create_graph)


def _order(roots: list) -> list:
    """The records reachable from `roots`, each after every record that feeds it a gradient."""
    post, seen = [], set()
    for r in roots:
        if id(r) in seen:
            continue
        seen.add(id(r))
        stack = [(r, iter(r._inputs))]
        while stack:
            fn, it = stack[-1]
            for _, nxt in it:
                if isinstance(nxt, GradFn) and id(nxt) not in seen:
                    seen.add(id(nxt))
                    stack.append((nxt, iter(nxt._inputs)))
                    break
            else:
                stack.pop()
                post.append(fn)
    return post[::-1]


def _step(fn: GradFn, g: Tensor, create_graph: bool) -> list:
    """The gradients of one record's inputs: the compiler differentiates the op's own subgraph
    (or the op's stable rule, for the ops in STABLE_RULES)."""
    live = [(n, nxt) for n, nxt in fn._inputs if nxt is not None]
    if not live:
        return []
    wrt, firsts = [], {}
    for n, nxt in live:
        if id(n) not in firsts:  # one node, one gradient: the first input that has it takes it
            firsts[id(n)] = nxt
            wrt.append(n)
    rule = STABLE_RULES.get(type(fn).__name__)
    if rule is not None and len(wrt) == 1 and len(fn._inputs) == 1:
        local = [rule(fn._out, wrt[0], g.node)]
    else:
        local = autodiff.gradients([fn._out], [g.node], wrt, stop=[n for n, _ in fn._inputs])
    out = []
    for n, gn in zip(wrt, local):
        if gn is None:
            continue
        t = wrap(gn)
        if create_graph:
            # the gradient is an op over the incoming gradient, the op's inputs and its output; a path
            # through the output goes back through this record (so through its stable rule)
            inputs = _inputs([g]) + list(fn._inputs) + [(fn._out, fn)]
            t.requires_grad = True
            t.grad_fn = _record(type(fn).__name__, gn, inputs)
        out.append((firsts[id(n)], t))
    return out


# ---- stable rules: composite ops whose primitive graph differentiates poorly ----

def _sigmoid_rule(y, x, g):
    """g y (1 - y): finite everywhere (the primitive graph of sigmoid has |x| and a division)."""
    return make(Op.MUL, (g, make(Op.MUL, (y, make(Op.ADD, (_c(1.0, y), make(Op.NEG, (y,))))))))


def _tanh_rule(y, x, g):
    """g (1 - y**2): finite everywhere (the primitive graph of tanh overflows far from 0)."""
    return make(Op.MUL, (g, make(Op.ADD, (_c(1.0, y), make(Op.NEG, (make(Op.MUL, (y, y)),))))))


def _relu_rule(y, x, g):
    """g where y > 0 (PyTorch's threshold_backward: 0 at x == 0)."""
    return make(Op.WHERE, (make(Op.CMPLT, (_c(0.0, y), y)), g, _c(0.0, g)))


def _clamp_rule(y, x, g):
    """g where x was kept (bounds included, as PyTorch), 0 where it was clamped."""
    if y.shape != x.shape or y.dtype is not x.dtype:
        return autodiff.gradients([y], [g], [x])[0]
    return make(Op.WHERE, (make(Op.CMPEQ, (y, x)), g, _c(0.0, g)))


def _norm_rule(y, x, g):
    """Through the primitives, but 0 where x is 0 and the norm's division gave nan (PyTorch's subgradient)."""
    gx = autodiff.gradients([y], [g], [x])[0]
    if gx is None:
        return None
    is_nan = make(Op.NOT, (make(Op.CMPEQ, (gx, gx)),))
    at_zero = make(Op.MUL, (is_nan, make(Op.CMPEQ, (x, _c(0.0, x)))))
    return make(Op.WHERE, (at_zero, _c(0.0, gx), gx))


STABLE_RULES = {"SigmoidBackward0": _sigmoid_rule, "TanhBackward0": _tanh_rule, "ReluBackward0": _relu_rule,
                "ClampBackward1": _clamp_rule, "ClampMinBackward0": _clamp_rule, "ClampMaxBackward0": _clamp_rule,
                "LinalgVectorNormBackward0": _norm_rule}


def _seeds(tensors: list, grad_tensors: list | None, what: str) -> list:
    out = []
    for i, t in enumerate(tensors):
        g = None if grad_tensors is None else grad_tensors[i]
        if not t.requires_grad:
            raise RuntimeError(f"element {i} of tensors does not require grad and does not have a grad_fn")
        if g is None:
            if t.numel() != 1:
                raise RuntimeError("grad can be implicitly created only for scalar outputs")
            g = wrap(const(1.0, t.dtype, tuple(t.shape)))
        elif not isinstance(g, Tensor):
            g = wrap(const(g, t.dtype, tuple(t.shape)))
        if tuple(g.shape) != tuple(t.shape):
            raise RuntimeError(f"Mismatch in shape: grad_output[{i}] has a shape of {tuple(g.shape)} and output[{i}] "
                               f"has a shape of {tuple(t.shape)}.")
        out.append(g)
    return out


def _listify(x) -> list:
    if x is None:
        return None
    return [x] if isinstance(x, Tensor) else list(x)


def backward(tensors, grad_tensors=None, retain_graph: bool | None = None, create_graph: bool = False,
             grad_variables=None, inputs=None) -> None:
    """Accumulate d(tensors)/d(leaf) into each leaf's `.grad` (or only into `inputs`' `.grad`)."""
    tensors = _listify(tensors)
    grad_tensors = _listify(grad_tensors if grad_tensors is not None else grad_variables)
    seeds = _seeds(tensors, grad_tensors, "backward")
    if retain_graph is None:
        retain_graph = create_graph
    targets = None
    inputs = _listify(inputs)
    if inputs is not None:
        if not inputs:
            raise RuntimeError("'inputs' argument to backward() cannot be empty.")
        targets = [_edge(t)[1] for t in inputs]
    result = _run(tensors, seeds, targets, retain_graph, create_graph)
    if inputs is None:
        for nxt, g in result.values():
            if isinstance(nxt, Tensor):
                _accumulate_into(nxt, g, create_graph)
    else:
        for t, nxt in zip(inputs, targets):
            if id(nxt) in result:
                _accumulate_into(t, result[id(nxt)][1], create_graph)


def _accumulate_into(t: Tensor, g: Tensor, create_graph: bool) -> None:
    if not create_graph:
        g = wrap(g.node)  # a plain value: .grad never requires grad unless create_graph
    if t.grad is None:
        t.grad = g
    else:
        t.grad = _sum(t.grad, g, create_graph) if create_graph else wrap(make(Op.ADD, (t.grad.node, g.node)))


def grad(outputs, inputs, grad_outputs=None, retain_graph: bool | None = None, create_graph: bool = False,
         only_inputs: bool = True, allow_unused: bool | None = None, is_grads_batched: bool = False,
         materialize_grads: bool = False) -> tuple:
    """The gradients of `outputs` with respect to `inputs`, returned (no `.grad` is touched)."""
    outputs = _listify(outputs)
    inputs = _listify(inputs)
    if is_grads_batched:
        raise NotImplementedError("autograd.grad(is_grads_batched=True) is not supported by lazytensor")
    for i, t in enumerate(inputs):
        if not t.requires_grad:
            raise RuntimeError("One of the differentiated Tensors does not require grad")
    seeds = _seeds(outputs, _listify(grad_outputs), "grad")
    if retain_graph is None:
        retain_graph = create_graph
    targets = [_edge(t)[1] for t in inputs]
    result = _run(outputs, seeds, targets, retain_graph, create_graph)
    out = []
    for t, nxt in zip(inputs, targets):
        g = result.get(id(nxt), (None, None))[1]
        if g is None:
            if materialize_grads:
                g = wrap(const(0.0, t.dtype, tuple(t.shape)))
            elif not allow_unused:
                raise RuntimeError("One of the differentiated Tensors appears to not have been used in the graph. "
                                   "Set allow_unused=True if this is the desired behavior.")
        elif not create_graph:
            g = wrap(g.node)
        out.append(g)
    return tuple(out)


# ---- which ops are tracked, under PyTorch's grad_fn names ----

def _by_scalar(tensor_name: str, scalar_name: str):
    """A name that depends on whether the second operand is a tensor."""
    return lambda a=None, b=None, *rest, **kw: tensor_name if isinstance(b, Tensor) else scalar_name


def _dim_given(without: str, with_dim: str, pos: int = 1, key: str = "dim"):
    return lambda *a, **kw: with_dim if (len(a) > pos and a[pos] is not None) or kw.get(key) is not None else without


def _pow_name(a, b=None, *rest, **kw):
    if not isinstance(a, Tensor):
        return "PowBackward2"
    return "PowBackward1" if isinstance(b, Tensor) else "PowBackward0"


def _rsub_name(a, b=None, *rest, **kw):
    return "RsubBackward0" if isinstance(b, Tensor) else "RsubBackward1"


def _clamp_name(x, min=None, max=None, *rest, **kw):  # noqa: A002
    bounds = [kw.get("min", min), kw.get("max", max)]
    return "ClampBackward0" if any(isinstance(b, Tensor) for b in bounds) else "ClampBackward1"


def _matmul_name(a, b, *rest, **kw):
    if a.ndim == 2 and b.ndim == 2:
        return "MmBackward0"
    if a.ndim == 2 and b.ndim == 1:
        return "MvBackward0"
    if a.ndim == 1 and b.ndim == 1:
        return "DotBackward0"
    return "UnsafeViewBackward0" if a.ndim > 2 else "ViewBackward0"


def _getitem_name(x, index, *rest, **kw):
    items = index if isinstance(index, tuple) else (index,)
    if any(isinstance(i, (Tensor, list, np.ndarray)) for i in items):
        return "IndexBackward0"
    for i in reversed(items):
        if i is None:
            return "UnsqueezeBackward0"
        if isinstance(i, slice):
            if i != slice(None):
                return "SliceBackward0"
            continue
        if i is Ellipsis:
            continue
        return "SelectBackward0"
    return "AliasBackward0"


def _squeeze_name(x, dim=None, *rest, **kw):
    return "SqueezeBackward1" if (dim if dim is not None else kw.get("dim")) is not None else "SqueezeBackward0"


def _max_name(prefix):
    return lambda x, dim=None, *rest, **kw: (f"{prefix}Backward0" if (dim if dim is not None else kw.get("dim"))
                                             is not None or isinstance(dim, Tensor) else f"{prefix}Backward1")


def _minmax_binary(prefix):
    # max(a, b) is maximum; max(a, dim) and max(a) reduce
    def name(x, other=None, *rest, **kw):
        if isinstance(other, Tensor):
            return "MaximumBackward0" if prefix == "Max" else "MinimumBackward0"
        return _max_name(prefix)(x, other, **kw)
    return name


import numpy as np  # noqa: E402  (only the getitem name needs it)

GRAD_FN_NAMES: dict = {
    # elementwise
    "add": "AddBackward0", "sub": "SubBackward0", "subtract": "SubBackward0", "rsub": _rsub_name,
    "mul": "MulBackward0", "multiply": "MulBackward0", "div": "DivBackward0", "divide": "DivBackward0",
    "true_divide": "DivBackward0", "remainder": _by_scalar("RemainderBackward1", "RemainderBackward0"),
    "fmod": _by_scalar("FmodBackward1", "FmodBackward0"), "neg": "NegBackward0", "negative": "NegBackward0",
    "pow": _pow_name, "float_power": _pow_name, "exp": "ExpBackward0", "exp2": "Exp2Backward0",
    "expm1": "Expm1Backward0", "log": "LogBackward0", "log2": "Log2Backward0", "log10": "Log10Backward0",
    "log1p": "Log1PBackward0", "sqrt": "SqrtBackward0", "rsqrt": "RsqrtBackward0",
    "reciprocal": "ReciprocalBackward0", "square": "PowBackward0", "sin": "SinBackward0", "cos": "CosBackward0",
    "tan": "TanBackward0", "sigmoid": "SigmoidBackward0", "tanh": "TanhBackward0", "sinh": "SinhBackward0",
    "cosh": "CoshBackward0", "relu": "ReluBackward0", "abs": "AbsBackward0", "absolute": "AbsBackward0",
    "sign": "SignBackward0", "sgn": "SgnBackward0", "floor": "FloorBackward0", "ceil": "CeilBackward0",
    "trunc": "TruncBackward0", "fix": "TruncBackward0", "frac": "FracBackward0", "round": "RoundBackward0",
    "clamp": _clamp_name, "clip": _clamp_name, "clamp_min": "ClampMinBackward0", "clamp_max": "ClampMaxBackward0",
    "maximum": "MaximumBackward0", "minimum": "MinimumBackward0",
    "lerp": lambda a, b, w, *r, **k: "LerpBackward1" if isinstance(w, Tensor) else "LerpBackward0",
    "addcmul": "AddcmulBackward0", "addcdiv": "AddcdivBackward0", "nan_to_num": "NanToNumBackward0",
    "where": "WhereBackward0", "floor_divide": "NotImplemented",
    # reductions
    "sum": _dim_given("SumBackward0", "SumBackward1"), "nansum": "NansumBackward0",
    "mean": _dim_given("MeanBackward0", "MeanBackward1"), "nanmean": "DivBackward0",
    "prod": _dim_given("ProdBackward0", "ProdBackward1"), "max": _minmax_binary("Max"),
    "min": _minmax_binary("Min"), "amax": "AmaxBackward0", "amin": "AminBackward0", "aminmax": "AminmaxBackward0",
    "var": "VarBackward0", "std": "StdBackward0", "var_mean": "VarMeanBackward0", "std_mean": "StdMeanBackward0",
    "logsumexp": "LogsumexpBackward0", "cumsum": "CumsumBackward0", "cumprod": "CumprodBackward0",
    "softmax": "SoftmaxBackward0", "log_softmax": "LogSoftmaxBackward0", "norm": "LinalgVectorNormBackward0",
    # shape
    "reshape": "ViewBackward0", "view": "ViewBackward0", "view_as": "ViewBackward0", "reshape_as": "ViewBackward0",
    "permute": "PermuteBackward0", "transpose": "TransposeBackward0", "swapaxes": "TransposeBackward0",
    "swapdims": "TransposeBackward0", "t": "TBackward0", "adjoint": "TransposeBackward0",
    "squeeze": _squeeze_name, "unsqueeze": "UnsqueezeBackward0", "flatten": "ViewBackward0",
    "ravel": "ViewBackward0", "unflatten": "ViewBackward0", "movedim": "PermuteBackward0",
    "moveaxis": "PermuteBackward0", "narrow": "SliceBackward0", "select": "SelectBackward0",
    "diagonal": "DiagonalBackward0", "clone": "CloneBackward0", "contiguous": "CloneBackward0",
    "expand": "ExpandBackward0", "expand_as": "ExpandBackward0", "broadcast_to": "ExpandBackward0",
    "atleast_1d": "ViewBackward0", "atleast_2d": "ViewBackward0", "atleast_3d": "ViewBackward0",
    "__getitem__": _getitem_name,
    # combine / indexing
    "cat": "CatBackward0", "concat": "CatBackward0", "concatenate": "CatBackward0", "stack": "StackBackward0",
    "hstack": "CatBackward0", "vstack": "CatBackward0", "dstack": "CatBackward0", "column_stack": "CatBackward0",
    "split": "SplitBackward0", "chunk": "SplitBackward0", "split_with_sizes": "SplitWithSizesBackward0",
    "unbind": "UnbindBackward0", "tensor_split": "SliceBackward0", "hsplit": "SplitBackward0",
    "vsplit": "SplitBackward0", "dsplit": "SplitBackward0", "gather": "GatherBackward0",
    "index_select": "IndexSelectBackward0", "take_along_dim": "GatherBackward0",
    "masked_fill": "MaskedFillBackward0", "tril": "TrilBackward0", "triu": "TriuBackward0",
    "tile": "RepeatBackward0", "repeat": "RepeatBackward0", "repeat_interleave": "ViewBackward0",
    "flip": "FlipBackward0", "fliplr": "FlipBackward0", "flipud": "FlipBackward0", "roll": "RollBackward0",
    "rot90": "Rot90Backward0", "scatter": "ScatterBackward0", "scatter_add": "ScatterAddBackward0",
    "masked_select": "MaskedSelectBackward0", "take": "TakeBackward0", "index_fill": "IndexFillBackward0",
    "masked_scatter": "MaskedScatterBackward0", "index_put": "IndexPutBackward0",
    # linalg
    "matmul": _matmul_name, "mm": "MmBackward0", "bmm": "BmmBackward0", "mv": "MvBackward0",
    "dot": "DotBackward0", "vdot": "VdotBackward0", "inner": "ViewBackward0", "outer": "MulBackward0",
    "ger": "MulBackward0", "addmm": "AddmmBackward0", "addmv": "AddmvBackward0", "baddbmm": "BaddbmmBackward0",
    "einsum": "ViewBackward0",
    # conversion
    "to": "ToCopyBackward0", "type": "ToCopyBackward0", "type_as": "ToCopyBackward0", "float": "ToCopyBackward0",
    "double": "ToCopyBackward0", "half": "ToCopyBackward0", "bfloat16": "ToCopyBackward0",
}
# PyTorch's names of the records that in-place methods leave (when not the op's own name)
INPLACE_NAMES = {"zero_": "ZeroBackward0", "fill_": "FillBackward0", "copy_": "CopyBackwards",
                 "__setitem__": "CopySlices", "index_put_": "IndexPutBackward0", "masked_scatter_": "MaskedScatterBackward0",
                 "index_fill_": "IndexFillBackward0", "scatter_": "ScatterBackward0",
                 "scatter_add_": "ScatterAddBackward0", "masked_fill_": "MaskedFillBackward0"}
_MODULE_NAMES = ("elementwise", "reduce", "shape", "combine", "indexing", "linalg", "conversion")


def _inplace_name(method: str):
    if method in INPLACE_NAMES:
        return INPLACE_NAMES[method]
    base = GRAD_FN_NAMES.get(method[:-1])
    if base is not None:
        return base
    return "".join(p.capitalize() for p in method[:-1].split("_")) + "Backward0"


def _reflect(fn):
    def reflected(self, other):
        return fn(other, self)
    return reflected


def install() -> None:
    """Wrap every op in the tables, wherever it is reachable: modules, Tensor, the lazytensor namespace."""
    import importlib

    import lazytensor
    wrapped: dict[int, object] = {}

    def wrap_fn(fn, name):
        if getattr(fn, "_autograd_original", None) is not None:
            return fn
        w = wrapped.get(id(fn))
        if w is None:
            w = wrapped[id(fn)] = _tracked(fn, name)
        return w

    modules = [importlib.import_module(f"lazytensor.{m}") for m in _MODULE_NAMES]
    for name, label in GRAD_FN_NAMES.items():
        for mod in modules:
            fn = vars(mod).get(name)
            if callable(fn) and not isinstance(fn, type):
                setattr(mod, name, wrap_fn(fn, label))
        attr = Tensor.__dict__.get(name)
        if isinstance(attr, property):
            continue
        if callable(attr):
            setattr(Tensor, name, wrap_fn(attr, label))
    # every other public op (comparisons, logic, argmax...) records the user's line once too
    for mod in modules:
        for name in getattr(mod, "__all__", ()):
            fn = vars(mod).get(name)
            if isinstance(fn, types.FunctionType) and getattr(fn, "_autograd_original", None) is None:
                w = wrapped.get(id(fn))
                if w is None:
                    w = wrapped[id(fn)] = _located(fn)
                setattr(mod, name, w)
    # the aliases and operators bound to the original functions
    originals = {k: v for k, v in wrapped.items()}
    for owner in (Tensor, lazytensor, *modules):
        for key, value in list(vars(owner).items()):
            w = originals.get(id(value))
            if w is not None and value is not w:
                setattr(owner, key, w)
    # reflected operators close over the original functions: rebuild them over the tracked ones
    elementwise = importlib.import_module("lazytensor.elementwise")
    for dunder, fname in (("__radd__", "add"), ("__rsub__", "sub"), ("__rmul__", "mul"), ("__rtruediv__", "div"),
                          ("__rfloordiv__", "floor_divide"), ("__rmod__", "remainder")):
        setattr(Tensor, dunder, _reflect(getattr(elementwise, fname)))
    for prop, label in (("T", "PermuteBackward0"), ("mT", "TransposeBackward0"), ("H", "PermuteBackward0"),
                        ("mH", "TransposeBackward0")):
        p = Tensor.__dict__[prop]
        setattr(Tensor, prop, property(_tracked(p.fget, label), doc=p.__doc__))
    for key, value in list(Tensor.__dict__.items()):
        if (key.endswith("_") and not key.startswith("__") and callable(value)
                and key not in ("requires_grad_", "detach_")) or key == "__setitem__":
            if getattr(value, "_autograd_original", None) is None:
                setattr(Tensor, key, _tracked_inplace(value, _inplace_name(key)))
    for mod in modules:
        for key in ("zero_", "fill_", "index_put_"):
            fn = vars(mod).get(key)
            if callable(fn) and getattr(fn, "_autograd_original", None) is None:
                w = _tracked_inplace(fn, _inplace_name(key))
                setattr(mod, key, w)
                if vars(lazytensor).get(key) is fn:
                    setattr(lazytensor, key, w)


# ---- Tensor's autograd methods ----

def _requires_grad_(self: Tensor, requires_grad: bool = True) -> Tensor:
    """Set requires_grad on a leaf in place; returns self."""
    if requires_grad and not self.dtype.is_floating_point:
        raise RuntimeError("only Tensors of floating point dtype can require gradients")
    if not requires_grad and self.grad_fn is not None:
        raise RuntimeError("you can only change requires_grad flags of leaf variables. If you want to use a computed "
                           "variable in a subgraph that doesn't require differentiation use var_no_grad = var.detach().")
    self.requires_grad = bool(requires_grad)
    return self


def _backward(self: Tensor, gradient=None, retain_graph: bool | None = None, create_graph: bool = False,
              inputs=None) -> None:
    """Accumulate the gradient of this tensor into the leaves' `.grad`."""
    backward([self], None if gradient is None else [gradient], retain_graph, create_graph, inputs=inputs)


def _retain_grad(self: Tensor) -> None:
    """Keep `.grad` on this non-leaf tensor after backward (a no-op on leaves)."""
    if not self.requires_grad:
        raise RuntimeError("can't retain_grad on Tensor that has requires_grad=False")
    if self.grad_fn is not None:
        self.grad_fn._retain = weakref.ref(self)


def _retains_grad(self: Tensor) -> bool:
    return self.grad_fn is not None and self.grad_fn._retain is not None and self.grad_fn._retain() is self


def _detach_(self: Tensor) -> Tensor:
    """Cut this tensor from the graph in place: it becomes a leaf that does not require grad."""
    if self._base is not None and self.grad_fn is not None:
        raise RuntimeError("Can't detach views in-place. Use detach() instead.")
    self.grad_fn = None
    self.requires_grad = False
    return self


Tensor.requires_grad_ = _requires_grad_
Tensor.backward = _backward
Tensor.retain_grad = _retain_grad
Tensor.retains_grad = property(_retains_grad, doc="True when retain_grad() was called on this non-leaf.")
Tensor.detach_ = _detach_
install()
