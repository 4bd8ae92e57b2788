"""The op table: every Tensor op against PyTorch (values and gradients, float64 and float32)
and, in float64, against finite differences. See ``parity.py`` for the input specs.

A row is ``op(name, fn, *cases, **options)``: ``fn(lib, *inputs)`` is written once for both
libraries, each case lists one spec per input (a tuple of ints is a random input of that
shape; lists, slices and numbers are passed through), options go to ``check_op``.
"""
from __future__ import annotations

from typing import Any, Callable, NamedTuple

import numpy as np
import pytest

torch = pytest.importorskip("torch")
from parity import check_op  # noqa: E402


class Op(NamedTuple):
    name: str
    fn: Callable[..., Any]
    cases: tuple[list[Any], ...]
    options: dict[str, Any]


def op(name: str, fn: Callable[..., Any], *cases: list[Any], **options: Any) -> Op:
    return Op(name, fn, cases, options)


def setitem(lib: Any, x: Any, index: Any, value: Any) -> Any:
    y = x * 1  # in place on a non-leaf: x's gradient must be zero where it was overwritten
    y[index] = value
    return y


def inplace_chain(lib: Any, x: Any, y: Any) -> Any:
    z = x * 1
    z.add_(y)
    z.mul_(y)
    z.sub_(y, alpha=2)
    z.div_(1.5)
    return z.clamp_(-1.0, 2.0)


def inplace_views(lib: Any, x: Any, y: Any) -> Any:
    z = x * 1
    z[0].mul_(y[0])  # in place through views: z's gradient must see it
    z.reshape(-1)[1:3].add_(y[1, :2] ** 2)
    z.t()[2].sub_(y[:, 1])
    z[1][1:].mul_(z[0, 1:].exp())
    return z


def inplace_overwrite(lib: Any, x: Any, y: Any) -> Any:
    z = x * 2
    z[0].zero_()  # overwritten values get no gradient
    z[1].copy_(y[0])
    w = x * 1
    w.fill_(0.5)
    v = x * 1
    v.copy_(y)  # y is a leaf: v must still lead to it
    return z * w + v * x


I = np.array  # index arrays and masks are constants
BINARY = (
    [(3, 4), (3, 4)], [(3, 1), (1, 4)], [(2, 3, 4), (4,)], [(), (2, 3)], [(2, 1, 3), ()],
    [(2, 3), 1.5], [2.5, (2, 3)], [(2, 3), 3], [(2, 3), np.float64(0.5)],
)
UNARY = ([(3, 4)], [()], [(2, 3, 4)])
DIVIDEND, DIVISOR = I([[5.3, -3.7, 2.2], [0.4, -6.1, 7.9]]), I([2.1, -1.3, 0.9])
REDUCE = ([(3, 4), None, False], [(3, 4), 0, False], [(2, 3, 4), [0, 2], True], [(2, 3, 4), -1, True], [(5,), 0, False])
ARG_REDUCE = ([(3, 4), None, False], [(3, 4), 0, False], [(2, 3, 4), 1, True], [(2, 3, 4), -1, False], [(5,), 0, False])
MATMUL = (
    [(3, 4), (4, 5)], [(4,), (4, 5)], [(3, 4), (4,)], [(4,), (4,)], [(2, 3, 4), (4, 5)],
    [(2, 3, 4), (2, 4, 5)], [(2, 1, 3, 4), (3, 4, 2)], [(4,), (2, 4, 5)], [(2, 3, 4), (4,)],
)

OPS = [
    # ---------------------------------------------------------------- arithmetic (broadcasting, scalars, 0-d)
    op("add", lambda lib, x, y: x + y, *BINARY),
    op("sub", lambda lib, x, y: x - y, *BINARY),
    op("mul", lambda lib, x, y: x * y, *BINARY),
    op("div", lambda lib, x, y: x / y, *BINARY, low=0.5, high=2.0),
    op("div_int", lambda lib, x, y: x / y, [I([1, 2, 3]), 2], [I([[1], [4]]), I([2, 3])], [3, I([1, 2])], grad=False),
    op("neg", lambda lib, x: -x, *UNARY),
    op("add_alpha", lambda lib, x, y: x.add(y, alpha=0.5).sub(y, alpha=2), [(3, 4), (4,)], [(2, 3), ()]),
    op("pow", lambda lib, x, e: x**e, [(3, 4), (3, 4)], [(3, 1), (4,)], [(2, 3), ()], [(), (2, 3)], low=0.5),
    op("pow_int", lambda lib, x, e: x**e, [(3, 4), 2], [(3, 4), 3], [(), 2], [(2, 3), -1], [(2, 3), 0], [I([0.0, 1.5]), 0]),
    op("pow_float", lambda lib, x, e: x.pow(e), [(3, 4), 0.5], [(3, 4), -1.5], [(2, 3), np.float64(2.5)], low=0.5),
    op("rpow", lambda lib, b, x: b**x, [2.0, (3, 4)], [0.5, (2, 3)], [3, ()]),
    op("maximum", lambda lib, x, y: lib.maximum(x, y), [(3, 4), (3, 4)], [(3, 1), (4,)], [(2, 3), ()]),
    op("minimum", lambda lib, x, y: lib.minimum(x, y), [(3, 4), (3, 4)], [(3, 1), (4,)], [(2, 3), ()]),
    op("compare", lambda lib, x, y: (x < y, x <= y, x > y, x >= y, x == y, x != y), *BINARY[:7], grad=False),
    # remainders: dividends and divisors away from integer ratios, where the remainder jumps
    op("remainder", lambda lib, x, y: x % y, [DIVIDEND, DIVISOR], [DIVIDEND, 1.7], [DIVIDEND, I([[2.1], [-1.3]])]),
    # torch has no derivative for a number's remainder by a tensor (ours is -floor(a / b)): values only
    op("rremainder", lambda lib, y: 5.3 % y, [DIVISOR], grad=False),
    op("remainder_fn", lambda lib, x, y: lib.remainder(x, y) + x.remainder(y), [DIVIDEND, DIVISOR], [DIVIDEND, -1.7]),
    op("fmod", lambda lib, x, y: lib.fmod(x, y) * x.fmod(y), [DIVIDEND, DIVISOR], [DIVIDEND, -1.7], [DIVIDEND, 2]),
    op("floordiv", lambda lib, x, y: (x // y, lib.floor_divide(x, y)), [DIVIDEND, DIVISOR], [DIVIDEND, 1.7], [5.3, DIVISOR], grad=False),
    op("integer_division", lambda lib, x, y: (x // y, x % y, lib.fmod(x, y)), [I([7, -7, 5, -5]), 3], [I([7, -7, 5, -5]), I([2, 2, -3, -3])],
       grad=False),
    op("rinteger_division", lambda lib, y: (7 // y, 7 % y), [I([2, -3])], grad=False),
    # ---------------------------------------------------------------- unary
    op("exp", lambda lib, x: x.exp(), *UNARY),
    op("log", lambda lib, x: x.log(), *UNARY, low=0.5),
    op("log1p", lambda lib, x: x.log1p(), *UNARY, low=-0.5),
    op("sqrt", lambda lib, x: x.sqrt(), *UNARY, low=0.5),
    op("rsqrt", lambda lib, x: x.rsqrt(), *UNARY, low=0.5),
    op("abs", lambda lib, x: abs(x) + x.abs(), *UNARY),
    op("square", lambda lib, x: x.square(), *UNARY),
    op("sigmoid", lambda lib, x: x.sigmoid() + lib.sigmoid(x), *UNARY, low=-6.0, high=6.0),
    op("tanh", lambda lib, x: x.tanh(), *UNARY, low=-3.0, high=3.0),
    op("relu", lambda lib, x: x.relu() + lib.relu(x), *UNARY),
    op("erf", lambda lib, x: x.erf(), *UNARY),
    op("clamp", lambda lib, x, lo, hi: x.clamp(lo, hi), [(3, 4), -0.5, 1.0], [(3, 4), None, 0.5], [(2, 3, 4), 0.0, None], [(), -1.0, 1.0]),
    op("clamp_int", lambda lib, x, lo, hi: x.clamp(lo, hi), [I([0, 1, 2, 3]), 0, 1.5], [I([-2, 5]), -1.5, None], [I([-2, 5]), 0, 3], grad=False),
    op("clamp_tensor", lambda lib, x, lo, hi: x.clamp(lo, hi), [(3, 4), (4,), None], [(3, 4), None, (3, 1)], [(3, 4), (3, 4), (3, 1)]),
    op("clone", lambda lib, x: x.clone() * 2, *UNARY),
    op("where", lambda lib, c, x, y: lib.where(c, x, y), [I([True, False, True]), (2, 3), (3,)], [I([[True], [False]]), (2, 3), 1.5], [I([[True, False]]), (), (2, 2)]),
    op("where_scalars", lambda lib, c, x: lib.where(c, 1.5, -2.0) * x + lib.where(c, 1, 0), [I([True, False, True]), (3,)], [I([[True], [False]]), (2, 2)]),
    op("masked_fill", lambda lib, x, m: x.masked_fill(m, -2.0), [(2, 3), I([True, False, True])], [(3,), I([False, True, True])]),
    op("to_dtype", lambda lib, x: x.to(lib.float32) * x.to(lib.float64), *UNARY, fd=False),
    op("float_double", lambda lib, x: x.float().double() + x.double(), *UNARY, fd=False),
    op("to_long", lambda lib, x: (x * 3).long(), *UNARY, grad=False),
    # ---------------------------------------------------------------- reductions
    op("sum", lambda lib, x, d, k: x.sum(d, keepdim=k), *REDUCE, [(), None, False]),
    op("mean", lambda lib, x, d, k: x.mean(d, keepdim=k), *REDUCE, [(), None, False]),
    op("var", lambda lib, x, d, k: x.var(d, keepdim=k), *REDUCE),
    op("var_correction", lambda lib, x, d, c: x.var(d, correction=c), [(3, 4), 1, 0], [(2, 3, 4), [0, 2], 2], [(5,), None, 0]),
    op("var_unbiased", lambda lib, x, d, u: x.var(d, unbiased=u), [(3, 4), 1, False], [(2, 3, 4), [0, 2], True]),
    op("std", lambda lib, x, d, k: x.std(d, keepdim=k), *REDUCE),
    op("std_correction", lambda lib, x, d, c: x.std(d, correction=c), [(3, 4), 1, 0], [(2, 3, 4), [1, 2], 0]),
    op("max", lambda lib, x: x.max() + lib.max(x), *UNARY),
    op("max_dim", lambda lib, x, d, k: x.max(d, keepdim=k), [(3, 4), 0, False], [(3, 4), -1, True], [(2, 3, 4), 1, False]),
    op("max_other", lambda lib, x, y: x.max(y), [(3, 4), (3, 4)], [(3, 1), (4,)]),
    op("min", lambda lib, x: x.min() + lib.min(x), *UNARY),
    op("min_dim", lambda lib, x, d, k: lib.min(x, d, keepdim=k), [(3, 4), 0, False], [(3, 4), -1, True], [(2, 3, 4), 1, False]),
    op("amax", lambda lib, x, d, k: x.amax(d, keepdim=k), [(3, 4), 0, False], [(2, 3, 4), [0, 2], True], [(2, 3, 4), -1, False]),
    op("amin", lambda lib, x, d, k: lib.amin(x, d, keepdim=k), [(3, 4), 0, False], [(2, 3, 4), [0, 2], True], [(2, 3, 4), -1, False]),
    op("ties", lambda lib, x: (x.max(), x.amax(1), x.max(1).values, x.min(0).values, lib.maximum(x, x[0]), x.clamp(2, 3)), [I([[1.0, 3.0, 3.0], [2.0, 2.0, 2.0]])], fd=False),
    op("argmax", lambda lib, x, d, k: x.argmax(d, keepdim=k), *ARG_REDUCE, grad=False),
    op("argmin", lambda lib, x, d, k: x.argmin(d, keepdim=k), *ARG_REDUCE, grad=False),
    op("softmax", lambda lib, x, d: x.softmax(d), [(3, 4), -1], [(3, 4), 0], [(2, 3, 4), 1], [(5,), 0]),
    op("log_softmax", lambda lib, x, d: x.log_softmax(d), [(3, 4), -1], [(3, 4), 0], [(2, 3, 4), 1], [(5,), 0]),
    op("logsumexp", lambda lib, x, d, k: x.logsumexp(d, keepdim=k), [(3, 4), -1, False], [(3, 4), 0, True], [(2, 3, 4), [0, 2], False], [(5,), 0, False]),
    op("norm", lambda lib, x, p, d: x.norm(p, d), [(3, 4), 2, None], [(3, 4), 2, 1], [(2, 3, 4), 1, -1], [(2, 3), 3, 0]),
    op("norm_std_at_zero", lambda lib, x: (x.norm(), x.norm(2, -1), x.norm(3, -1), x.std(-1)), [I([[0.0, 0.0, 0.0], [1.0, -2.0, 0.5]])], [np.zeros(4)]),
    op("gather", lambda lib, x, d, i: x.gather(d, i), [(3, 4), 1, I([[0, 3], [2, 2], [1, 0]])], [(3, 4), 0, I([[2, 0, 1, 1], [2, 2, 0, 0]])], [(2, 3, 4), -1, I([[[1]] * 3] * 2)]),
    # ---------------------------------------------------------------- shape
    op("reshape", lambda lib, x, s: x.reshape(s), [(3, 4), [12]], [(3, 4), [2, -1]], [(2, 3, 4), [4, 3, 2]], [(), [1]], [(1,), []]),
    op("view", lambda lib, x, s: x.view(*s), [(3, 4), [12]], [(3, 4), [2, -1, 3]], [(2, 3, 4), [6, 4]]),
    op("flatten", lambda lib, x, s, e: x.flatten(s, e), [(2, 3, 4), 0, -1], [(2, 3, 4), 1, -1], [(2, 3, 4, 2), 1, 2], [(), 0, -1]),
    op("transpose", lambda lib, x, a, b: x.transpose(a, b), [(3, 4), 0, 1], [(2, 3, 4), -1, -2], [(2, 3, 4), 0, 2]),
    op("permute", lambda lib, x, d: x.permute(d), [(2, 3, 4), [2, 0, 1]], [(2, 3, 4), [0, 2, 1]], [(3, 4), [1, 0]]),
    op("T_mT_t", lambda lib, x: (x.T, x.mT, x.t()), [(3, 4)], [(4, 1)]),
    op("unsqueeze", lambda lib, x, d: x.unsqueeze(d), [(3, 4), 0], [(3, 4), -1], [(3, 4), 1], [(), 0]),
    op("squeeze", lambda lib, x, *d: x.squeeze(*d), [(3, 1, 4, 1)], [(3, 1, 4), 1], [(1, 4), 0], [(3, 4), 0], [(1, 3, 1), -1]),
    op("expand", lambda lib, x, s: x.expand(s), [(3, 1), [3, 4]], [(4,), [2, 3, 4]], [(3, 1), [-1, 4]], [(), [2, 3]]),
    op("expand_as", lambda lib, x, y: x.expand_as(y) * y, [(3, 1), (3, 4)], [(4,), (2, 4)]),
    # ---------------------------------------------------------------- matmul
    op("matmul", lambda lib, x, y: x @ y, *MATMUL),
    op("matmul_fn", lambda lib, x, y: lib.matmul(x, y), *MATMUL[:4]),
    op("bmm", lambda lib, x, y: (x.bmm(y), lib.bmm(x, y)), [(2, 3, 4), (2, 4, 5)], [(1, 2, 2), (1, 2, 3)]),
    # ---------------------------------------------------------------- indexing
    op("getitem_basic", lambda lib, x, i: x[i], [(3, 4), 1], [(3, 4), slice(1, 3)], [(3, 4, 2), (slice(None), slice(None, None, 2))],
       [(3, 4), (None, Ellipsis, 1)], [(3, 4), (-1, slice(1, None))], [(2, 3, 4), (Ellipsis, slice(-2, None))], [(3,), 0]),
    op("getitem_int_array", lambda lib, x, i: x[i], [(5, 3), I([0, 2, 2, 4])], [(5, 3), I([[0, 1], [4, -1]])], [(5, 3), (I([0, 2]), I([1, 1]))],
       [(5, 3), (slice(None), I([2, 0, 2]))], [(4, 3, 2), (I([0, 3]), slice(None), I([1, 0]))], [(5, 3), [0, 2, 2]]),
    op("getitem_bool", lambda lib, x, m: x[m], [(4, 3), I([True, False, True, True])], [(2, 3), I([[True, False, True], [False, False, True]])], [(2, 3), (slice(None), I([False, True, True]))]),
    op("getitem_mask_of_self", lambda lib, x: x[x > 0], *UNARY[:1], [(2, 3, 4)]),
    op("setitem", setitem, [(4, 3), slice(1, 3), (2, 3)], [(4, 3), 1, (3,)], [(4, 3), (slice(None), 0), 2.5], [(4, 3), I([0, 2]), (2, 3)],
       [(4, 3), I([True, False, True, False]), (1, 3)], [(4, 3), (I([0, 3]), I([1, 2])), (2,)], [(3,), 0, ()]),
    op("inplace", inplace_chain, [(3, 4), (3, 4)], [(3, 4), (4,)], [(2, 3), ()]),
    op("inplace_views", inplace_views, [(2, 3), (2, 3)], [(2, 4), (2, 4)]),
    op("inplace_overwrite", inplace_overwrite, [(2, 3), (2, 3)], [(3, 2), (3, 2)]),
    # ---------------------------------------------------------------- joining and splitting
    op("cat", lambda lib, x, y, d: lib.cat([x, y], d), [(2, 3), (4, 3), 0], [(2, 3), (2, 1), 1], [(2, 3, 2), (2, 3, 1), -1], [(3,), (2,), 0]),
    op("cat3", lambda lib, x, y, z: lib.cat((x, y, z), 1), [(2, 1), (2, 3), (2, 2)]),
    op("cat_mixed_dtypes", lambda lib, x, i: lib.cat([x, i]).exp().sum() * lib.stack([i, x]), [(3,), I([1, 2, 3])], [(2,), I([True, False])]),
    op("stack", lambda lib, x, y, d: lib.stack([x, y], d), [(2, 3), (2, 3), 0], [(2, 3), (2, 3), 1], [(2, 3), (2, 3), -1], [(), (), 0]),
    op("split", lambda lib, x, s, d: x.split(s, d), [(5, 3), 2, 0], [(5, 3), [1, 2], 1], [(2, 6), 3, -1]),
    op("chunk", lambda lib, x, c, d: x.chunk(c, d), [(5, 3), 3, 0], [(2, 4), 2, 1], [(6,), 4, 0]),
    op("pad", lambda lib, x, widths, value=0.0: lib.nn.functional.pad(x, widths, value=value), [(2, 3), [1, 2]], [(2, 3, 4), [0, 1, 2, 0]], [(1, 2, 3, 3), [1, 1, 1, 1]], [(2, 3), [1, 0], -1.5]),
]

CASES = [
    pytest.param(row, inputs, np.dtype(dtype), id=f"{row.name}-{k}-{np.dtype(dtype)}")
    for row in OPS
    for k, inputs in enumerate(row.cases)
    for dtype in (np.float64, np.float32)
]


@pytest.mark.parametrize("row, inputs, dtype", CASES)
def test_op_matches_torch(row: Op, inputs: list[Any], dtype: np.dtype) -> None:
    check_op(row.fn, inputs, dtypes=(dtype,), **row.options)


def test_table_size() -> None:
    """The table's size, reported in the issue: ops x cases x dtypes."""
    cases = sum(len(row.cases) for row in OPS)
    assert len(OPS) >= 70 and cases >= 250 and len(CASES) == 2 * cases
