"""Winograd convolution F(m x m, 3 x 3): the kernels of stride-1 3x3 layers with fewer multiplies.

Each m x m block of outputs depends on a (m + 2) x (m + 2) tile of the (padded) input; tiles
overlap by two rows and columns. In the Winograd domain the 3x3 correlation of one tile is an
elementwise product (Lavin & Gray, 2016)::

    y_tile = AT @ [(G @ w @ G.T) * (BT @ x_tile @ BT.T)] @ AT.T

so summing over input channels becomes (m + 2)^2 independent GEMMs
``(tiles, C_in) @ (C_out, C_in).T``: F(2x2, 3x3) does 16 multiplies per 4 outputs (2.25x fewer
than direct convolution), F(4x4, 3x3) 36 per 16 (4x fewer) but with larger transforms and
coefficients up to 8, which costs about one more decimal digit of float32 precision. All
three products of training use it: the input and weight gradients are the adjoints of the
same bilinear map, so they are GEMMs in the same domain followed by the transposed transforms.

Arrays are in the conv kernels' (H, W, N, C) layout (see ``kernels/conv.py``); tile-domain arrays are
(t, t, tiles_h, tiles_w, N, C) with t = m + 2, i.e. t * t matrices of one row per tile and
image. Every activation transform is a handful of whole-array operations over shifted windows
of the outer (spatial) axes, each a long contiguous run of N * C values. The input is first
split into its m x m polyphase components (rows and columns modulo m) so that every window is a
plain slice. The activation transforms write into arrays their caller gives and run on the
calling thread: ``conv.WinogradKernel`` decides how the images are split over the cores.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Sequence

from ..backend import get_array_module
from ..runtime import workspace
from ..runtime.threads import matmul


@dataclass(frozen=True)
class Variant:
    """One Winograd algorithm F(m x m, 3 x 3): its output tile side ``m`` and its matrices."""

    name: str
    m: int
    bt: tuple[tuple[float, ...], ...]  # (t, t): input transform
    g: tuple[tuple[float, ...], ...]  # (t, 3): filter transform
    at: tuple[tuple[float, ...], ...]  # (m, t): output transform

    @property
    def t(self) -> int:
        """Input tile side, m + 2."""
        return len(self.bt)

    @property
    def halo(self) -> int:
        """Extra entries per polyphase component beyond one per tile: (t - 1) // m."""
        return (self.t - 1) // self.m

    def tiles(self, output_hw: tuple[int, int]) -> tuple[int, int]:
        return tuple(-(-n // self.m) for n in output_hw)


F2 = Variant(
    "F(2x2, 3x3)", 2,
    bt=((1, 0, -1, 0), (0, 1, 1, 0), (0, -1, 1, 0), (0, 1, 0, -1)),
    g=((1, 0, 0), (1 / 2, 1 / 2, 1 / 2), (1 / 2, -1 / 2, 1 / 2), (0, 0, 1)),
    at=((1, 1, 1, 0), (0, 1, -1, -1)),
)
F4 = Variant(  # interpolation points 0, 1, -1, 2, -2 and infinity
    "F(4x4, 3x3)", 4,
    bt=(
        (4, 0, -5, 0, 1, 0), (0, -4, -4, 1, 1, 0), (0, 4, -4, -1, 1, 0),
        (0, -2, -1, 2, 1, 0), (0, 2, -1, -2, 1, 0), (0, 4, 0, -5, 0, 1),
    ),
    g=(
        (1 / 4, 0, 0), (-1 / 6, -1 / 6, -1 / 6), (-1 / 6, 1 / 6, -1 / 6),
        (1 / 24, 1 / 12, 1 / 6), (1 / 24, -1 / 12, 1 / 6), (0, 0, 1),
    ),
    at=((1, 1, 1, 1, 1, 0), (0, 1, -1, 2, -2, 0), (0, 1, 1, 4, 4, 0), (0, 1, -1, 8, -8, 1)),
)


# -------------------------------------------------------------------- small linear maps on arrays
def _combine(out: Any, terms: Sequence[tuple[float, Any]], accumulate: bool = False) -> None:
    """``out (+)= sum(c * a for c, a in terms)``: terms with equal |c| are summed with signs
    first, one pass each, and scaled once."""
    xp = get_array_module(out)
    by_size: dict[float, list[tuple[bool, Any]]] = {}
    for c, a in terms:
        by_size.setdefault(abs(c), []).append((c > 0, a))
    for size in sorted(by_size, key=lambda s: s != 1):  # unit coefficients first: no temporary
        if size == 1 or not accumulate:
            _signed_sum(out, by_size[size], accumulate)
            if size != 1:
                out *= out.dtype.type(size)
        else:
            part = xp.empty_like(out)
            _signed_sum(part, by_size[size], False)
            part *= part.dtype.type(size)
            out += part
        accumulate = True


def _signed_sum(out: Any, terms: Sequence[tuple[bool, Any]], accumulate: bool) -> None:
    """``out (+)= sum(+-a)``, one pass per term (two terms in one pass when not accumulating)."""
    xp = get_array_module(out)
    terms = list(terms)
    if not accumulate:
        (p0, a0), rest = terms[0], terms[1:]
        if not rest:
            xp.copyto(out, a0) if p0 else xp.negative(a0, out=out)
        elif p0 or rest[0][0]:  # out = a -+ b in one pass, the positive one first
            (p1, a1) = rest[0]
            if p0 and p1:
                xp.add(a0, a1, out=out)
            else:
                xp.subtract(*((a0, a1) if p0 else (a1, a0)), out=out)
            rest = rest[1:]
        else:
            xp.negative(a0, out=out)
        terms = rest
    for positive, a in terms:
        (xp.add if positive else xp.subtract)(out, a, out=out)


def _apply(matrix: Sequence[Sequence[float]], sources: Sequence[Any], outs: Sequence[Any]) -> None:
    """outs[i] = sum_k matrix[i][k] * sources[k]."""
    for row, out in zip(matrix, outs):
        _combine(out, [(c, s) for c, s in zip(row, sources) if c])


def _transposed(matrix: Sequence[Sequence[float]]) -> list[list[float]]:
    return [list(column) for column in zip(*matrix)]


# -------------------------------------------------------------------- polyphase components
def _phase_slices(m: int, size: int, pad: int, phase: int, count: int) -> tuple[slice, slice]:
    """Along one axis: which entries ``t < count`` of polyphase component ``phase`` hold input
    index ``m * t + phase - pad``, and which input indices those are."""
    first = max(0, -(-(pad - phase) // m))
    last = min(count, (size - 1 - phase + pad) // m + 1)
    start = m * first + phase - pad
    if last <= first:
        return slice(0, 0), slice(0, 0)
    return slice(first, last), slice(start, start + m * (last - first - 1) + 1, m)


def _polyphase(v: Variant, x: Any, padding: tuple[int, int], th: int, tw: int) -> Any:
    """(H, W, N, C) -> (m, m, th + halo, tw + halo, N, C): component [p, q] holds padded rows p::m, columns q::m."""
    (h, w), m = x.shape[:2], v.m
    q = workspace.empty(get_array_module(x), (m, m, th + v.halo, tw + v.halo) + x.shape[2:], x.dtype)
    for p in range(m):
        rows_to, rows_from = _phase_slices(m, h, padding[0], p, th + v.halo)
        for r in range(m):
            cols_to, cols_from = _phase_slices(m, w, padding[1], r, tw + v.halo)
            component = q[p, r]
            component[: rows_to.start], component[rows_to.stop :] = 0, 0  # the padding: rows, then columns
            component[rows_to, : cols_to.start], component[rows_to, cols_to.stop :] = 0, 0
            component[rows_to, cols_to] = x[rows_from, cols_from]
    return q


def _unpolyphase(v: Variant, q: Any, x: Any, padding: tuple[int, int]) -> None:
    """The adjoint of ``_polyphase`` (the padding's entries are dropped), into ``x`` (H, W, N, C)."""
    (h, w), m = x.shape[:2], v.m
    for p in range(m):
        rows_to, rows_from = _phase_slices(m, h, padding[0], p, q.shape[2])
        for r in range(m):
            cols_to, cols_from = _phase_slices(m, w, padding[1], r, q.shape[3])
            x[rows_from, cols_from] = q[p, r, rows_to, cols_to]


# -------------------------------------------------------------------- transforms
# The activation transforms work on the images they are given, on the calling thread, writing
# into ``out``; tile-domain arrays are (t, t, th, tw, n, C). ``conv.WinogradKernel`` decides
# how the images are split over the cores.
def input_transform(v: Variant, x: Any, padding: tuple[int, int], out: Any) -> None:
    """(H, W, n, C) -> ``out`` V, V[a, b] = (BT @ tile @ BT.T)[a, b] for every tile."""
    th, tw = out.shape[2:4]
    q = _polyphase(v, x, padding, th, tw)
    rows = workspace.empty(get_array_module(x), (v.t, v.m, th, tw + v.halo) + x.shape[2:], x.dtype)  # BT along H
    _apply(v.bt, [q[r % v.m, :, r // v.m : r // v.m + th] for r in range(v.t)], rows)
    _apply(v.bt, [rows[:, s % v.m, :, s // v.m : s // v.m + tw] for s in range(v.t)], [out[:, b] for b in range(v.t)])


def input_transform_adjoint(v: Variant, dv: Any, padding: tuple[int, int], out: Any) -> None:
    """The transpose of ``input_transform``: dV -> ``out`` (H, W, n, C), overlapping tiles summed."""
    xp = get_array_module(dv)
    th, tw = dv.shape[2:4]
    rows = workspace.empty(xp, (v.t, v.m, th, tw + v.halo) + dv.shape[4:], dv.dtype)
    _overlap_add(v, [rows[:, p] for p in range(v.m)], [dv[:, b] for b in range(v.t)], axis=2, count=tw)
    q = workspace.empty(xp, (v.m, v.m, th + v.halo, tw + v.halo) + dv.shape[4:], dv.dtype)
    _overlap_add(v, list(q), [rows[a] for a in range(v.t)], axis=1, count=th)
    _unpolyphase(v, q, out, padding)


def _overlap_add(v: Variant, targets: Sequence[Any], sources: Sequence[Any], axis: int, count: int) -> None:
    """targets[s % m][window s // m : s // m + count along ``axis``] = sum over s of sum_b BT[b, s] * sources[b].

    Windows of one phase overlap, so the first (offset 0) is assigned and the later ones
    added; the entries only later windows cover are zeroed first.
    """
    def window(offset: int) -> tuple[slice, ...]:
        return (slice(None),) * axis + (slice(offset, offset + count),)

    for target in targets:
        target[(slice(None),) * axis + (slice(count, None),)] = 0
    for s, column in enumerate(_transposed(v.bt)):  # offsets 0 come first
        terms = [(c, source) for c, source in zip(column, sources) if c]
        _combine(targets[s % v.m][window(s // v.m)], terms, accumulate=s >= v.m)


def output_transform(v: Variant, mm: Any, out: Any) -> None:
    """M -> ``out`` Y (m * th, m * tw, n, C), each m x m block AT @ M tile @ AT.T."""
    y = out.reshape((mm.shape[2], v.m, mm.shape[3], v.m) + mm.shape[4:])
    rows = workspace.empty(get_array_module(mm), (v.m,) + mm.shape[1:], mm.dtype)  # AT along H
    _apply(v.at, list(mm), rows)
    sources = [rows[:, b].swapaxes(0, 1) for b in range(v.t)]  # (th, row in tile, tw, n, C)
    _apply(v.at, sources, [y[:, :, :, j] for j in range(v.m)])


def output_transform_adjoint(v: Variant, grad_y: Any, out: Any) -> None:
    """The transpose of ``output_transform``, outputs beyond ``grad_y``'s (H, W) taken as zero:
    (H, W, n, C) -> ``out`` dM."""
    xp, (th, tw), (h, w) = get_array_module(grad_y), out.shape[2:4], grad_y.shape[:2]
    if (h, w) != (v.m * th, v.m * tw):
        padded = workspace.zeros(xp, (v.m * th, v.m * tw) + grad_y.shape[2:], grad_y.dtype)
        padded[:h, :w] = grad_y
        grad_y = padded
    a, shape = _transposed(v.at), (th, tw, v.m) + grad_y.shape[2:]
    # A along H, into rows whose columns are split by phase (m, th, tw, n, C): the strided reads
    # happen here, on the smaller side, and A along W then reads contiguous blocks.
    phases = [grad_y[i :: v.m].reshape(shape).transpose(2, 0, 1, 3, 4) for i in range(v.m)]
    rows = workspace.empty(xp, (v.t, v.m, th, tw) + grad_y.shape[2:], grad_y.dtype)
    _apply(a, phases, rows)
    _apply(a, [rows[:, j] for j in range(v.m)], [out[:, b] for b in range(v.t)])


# The filter transforms are one small GEMM each, (G kron G) (t * t, 9) against the 9 taps of
# every channel pair: no copies of the weight, and a third of the time of the separable form.
def filter_transform(v: Variant, w: Any) -> Any:
    """(C_out, C_in, 3, 3) -> U (t * t, C_out, C_in) = G @ w @ G.T per channel pair."""
    c_out, c_in = w.shape[:2]
    u = matmul(get_array_module(w), _filter_matrix(v, w), w.reshape(c_out * c_in, 9).T)
    return u.reshape(v.t * v.t, c_out, c_in)


def filter_transform_adjoint(v: Variant, du: Any) -> Any:
    """The transpose of ``filter_transform``: (t * t, C_out, C_in) -> (C_out, C_in, 3, 3)."""
    c_out, c_in = du.shape[1:]
    return matmul(get_array_module(du), du.reshape(v.t * v.t, c_out * c_in).T, _filter_matrix(v, du)).reshape(c_out, c_in, 3, 3)


def _filter_matrix(v: Variant, like: Any) -> Any:
    """G kron G: row a * t + b holds the coefficients G[a, i] * G[b, j] of taps (i, j)."""
    g = get_array_module(like).asarray(v.g, dtype=like.dtype)
    return get_array_module(like).kron(g, g)
