"""Winograd F(2x2, 3x3): the kernels of stride-1 3x3 convolutions with 2.25x fewer multiplies.

Each 2x2 block of outputs depends on a 4x4 tile of the (padded) input; tiles overlap by two
rows and columns. In the Winograd domain the 3x3 correlation of one tile is an elementwise
product of 4x4 arrays (Lavin & Gray, 2016)::

    y_tile = AT @ [(G @ w @ G.T) * (BT @ x_tile @ BT.T)] @ AT.T

so summing over input channels becomes 16 independent GEMMs ``(tiles, C_in) @ (C_out, C_in).T``
with 16 multiplies per 4 outputs instead of 36. All three products of training use it:
the input and weight gradients are the adjoints of the same bilinear map, so they are GEMMs
in the same domain followed by the transposed transforms.

Arrays are in the conv kernels' (H, W, N, C) layout (see ``conv.py``); tile-domain arrays are
(4, 4, tiles_h, tiles_w, N, C), i.e. 16 matrices of one row per tile and image. Every
transform is a handful of whole-array adds over shifted windows of the outer (spatial) axes,
each a long contiguous run of N * C values. The input is first split into its 2x2 polyphase
components (even/odd rows x even/odd columns) so that every window is a plain slice.
Tile-domain results come from ``workspace`` (callers give them back), and each transform runs
on all cores, a block of images per thread (``threads``).
"""
from __future__ import annotations

from typing import Any, Sequence

from ..backend import get_array_module
from . import workspace
from .threads import for_blocks

TILE, STEP = 4, 2  # input tile side, output tile side (= the stride between tiles)
_BT = ((1, 0, -1, 0), (0, 1, 1, 0), (0, -1, 1, 0), (0, 1, 0, -1))
_G = ((1.0, 0.0, 0.0), (0.5, 0.5, 0.5), (0.5, -0.5, 0.5), (0.0, 0.0, 1.0))
_AT = ((1, 1, 1, 0), (0, 1, -1, -1))


def _combine(out: Any, terms: Sequence[tuple[float, Any]], accumulate: bool = False) -> None:
    """``out (+)= sum(c * a for c, a in terms)`` for coefficients 1 or -1, one pass per term."""
    xp = get_array_module(out)
    terms = list(terms)
    if not accumulate:
        (c0, a0), rest = terms[0], terms[1:]
        if not rest:
            xp.copyto(out, a0) if c0 == 1 else xp.negative(a0, out=out)
        elif c0 == 1 or rest[0][0] == 1:  # out = a - b in one pass, whichever is positive
            (c1, a1) = rest[0]
            if c0 == c1:
                xp.add(a0, a1, out=out)
            else:
                xp.subtract(*((a0, a1) if c0 == 1 else (a1, a0)), out=out)
            rest = rest[1:]
        else:
            xp.negative(a0, out=out)
        terms = rest
    for c, a in terms:
        (xp.add if c == 1 else xp.subtract)(out, a, out=out)


def _nonzero(row: Sequence[float], sources: Sequence[Any]) -> list[tuple[float, Any]]:
    return [(c, s) for c, s in zip(row, sources) if c]


# -------------------------------------------------------------------- geometry
def tiles(output_hw: tuple[int, int]) -> tuple[int, int]:
    return tuple((n + STEP - 1) // STEP for n in output_hw)


def _phase_slices(size: int, pad: int, phase: int, count: int) -> tuple[slice, slice]:
    """Along one axis: which entries ``t < count`` of polyphase component ``phase`` hold input
    index ``STEP * t + phase - pad``, and which input indices those are."""
    first = max(0, -(-(pad - phase) // STEP))
    last = min(count, (size - 1 - phase + pad) // STEP + 1)
    start = STEP * first + phase - pad
    if last <= first:
        return slice(0, 0), slice(0, 0)
    return slice(first, last), slice(start, start + STEP * (last - first - 1) + 1, STEP)


def _polyphase(x: Any, padding: tuple[int, int], th: int, tw: int) -> Any:
    """(H, W, N, C) -> (2, 2, th + 1, tw + 1, N, C): component [p, q] holds padded rows p::2, columns q::2."""
    h, w = x.shape[:2]
    q = get_array_module(x).zeros((STEP, STEP, th + 1, tw + 1) + x.shape[2:], dtype=x.dtype)
    for p in range(STEP):
        rows_to, rows_from = _phase_slices(h, padding[0], p, th + 1)
        for r in range(STEP):
            cols_to, cols_from = _phase_slices(w, padding[1], r, tw + 1)
            q[p, r, rows_to, cols_to] = x[rows_from, cols_from]
    return q


def _unpolyphase(q: Any, x: Any, padding: tuple[int, int]) -> None:
    """The adjoint of ``_polyphase`` (the padding's entries are dropped), into ``x`` (H, W, N, C)."""
    h, w = x.shape[:2]
    for p in range(STEP):
        rows_to, rows_from = _phase_slices(h, padding[0], p, q.shape[2])
        for r in range(STEP):
            cols_to, cols_from = _phase_slices(w, padding[1], r, q.shape[3])
            x[rows_from, cols_from] = q[p, r, rows_to, cols_to]


# -------------------------------------------------------------------- transforms
# Each transform allocates its result and fills it on all cores, a block of images (axis N) each.
def input_transform(x: Any, padding: tuple[int, int], th: int, tw: int) -> Any:
    """(H, W, N, C) -> V (16, th * tw * N, C), V[a, b] = (BT @ tile @ BT.T)[a, b] for every tile."""
    xp = get_array_module(x)
    n, c = x.shape[2:]
    v = workspace.take(xp, (TILE, TILE, th, tw, n, c), x.dtype)
    for_blocks(xp, n, lambda block: _input_transform(x[:, :, block], padding, v[:, :, :, :, block]), v.nbytes)
    return v.reshape(TILE * TILE, th * tw * n, c)


def _input_transform(x: Any, padding: tuple[int, int], v: Any) -> None:
    th, tw = v.shape[2:4]
    q = _polyphase(x, padding, th, tw)
    rows = get_array_module(x).empty((TILE, STEP, th, tw + 1) + x.shape[2:], dtype=x.dtype)  # BT along H
    row_windows = [q[r % STEP, :, r // STEP : r // STEP + th] for r in range(TILE)]
    for a in range(TILE):
        _combine(rows[a], _nonzero(_BT[a], row_windows))
    col_windows = [rows[:, s % STEP, :, s // STEP : s // STEP + tw] for s in range(TILE)]
    for b in range(TILE):
        _combine(v[:, b], _nonzero(_BT[b], col_windows))


def input_transform_adjoint(v: Any, shape: tuple[int, ...], padding: tuple[int, int], th: int, tw: int) -> Any:
    """The transpose of ``input_transform``: (16, th * tw * N, C) -> (H, W, N, C), overlapping tiles summed."""
    xp = get_array_module(v)
    x = xp.empty(shape, dtype=v.dtype)
    v = v.reshape((TILE, TILE, th, tw) + shape[2:])
    for_blocks(xp, shape[2], lambda block: _input_transform_adjoint(v[:, :, :, :, block], x[:, :, block], padding), v.nbytes)
    return x


def _input_transform_adjoint(v: Any, x: Any, padding: tuple[int, int]) -> None:
    xp = get_array_module(v)
    th, tw = v.shape[2:4]
    rows = xp.empty((TILE, STEP, th, tw + 1) + v.shape[4:], dtype=v.dtype)
    _overlap_add([rows[:, 0], rows[:, 1]], [v[:, b] for b in range(TILE)], axis=2, count=tw)
    q = xp.empty((STEP, STEP, th + 1, tw + 1) + v.shape[4:], dtype=v.dtype)
    _overlap_add([q[0], q[1]], [rows[a] for a in range(TILE)], axis=1, count=th)
    _unpolyphase(q, x, padding)


def _overlap_add(targets: Sequence[Any], sources: Sequence[Any], axis: int, count: int) -> None:
    """targets[s % 2][window s // 2 : s // 2 + count along ``axis``] = sum over s of sum_b BT[b, s] * sources[b].

    Windows of one phase overlap in one entry, so the first (offset 0) is assigned and the
    second added; the entry only the second covers is zeroed first.
    """
    def window(offset: int) -> tuple[slice, ...]:
        return (slice(None),) * axis + (slice(offset, offset + count),)

    for target in targets:
        target[(slice(None),) * axis + (count,)] = 0
    for s in range(TILE):  # offsets 0 come first
        target = targets[s % STEP]
        terms = _nonzero([_BT[b][s] for b in range(TILE)], sources)
        _combine(target[window(s // STEP)], terms, accumulate=s >= STEP)


def output_transform(m: Any, th: int, tw: int, output_hw: tuple[int, int]) -> Any:
    """M (16, th * tw * N, C) -> Y (H_out, W_out, N, C), Y tile = AT @ M tile @ AT.T."""
    xp = get_array_module(m)
    c = m.shape[2]
    n = m.shape[1] // (th * tw)
    m = m.reshape(TILE, TILE, th, tw, n, c)
    y = xp.empty((th, STEP, tw, STEP, n, c), dtype=m.dtype)
    for_blocks(xp, n, lambda block: _output_transform(m[:, :, :, :, block], y[:, :, :, :, block]), m.nbytes)
    return y.reshape(STEP * th, STEP * tw, n, c)[: output_hw[0], : output_hw[1]]


def _output_transform(m: Any, y: Any) -> None:
    rows = get_array_module(m).empty((STEP,) + m.shape[1:], dtype=m.dtype)  # AT along H
    for i in range(STEP):
        _combine(rows[i], _nonzero(_AT[i], [m[a] for a in range(TILE)]))
    sources = [rows[:, b].swapaxes(0, 1) for b in range(TILE)]  # (th, row in tile, tw, N, C)
    for j in range(STEP):
        _combine(y[:, :, :, j], _nonzero(_AT[j], sources))


def output_transform_adjoint(grad_y: Any, th: int, tw: int) -> Any:
    """The transpose of ``output_transform``: (H_out, W_out, N, C) -> dM (16, th * tw * N, C)."""
    xp = get_array_module(grad_y)
    n, c = grad_y.shape[2:]
    dm = workspace.take(xp, (TILE, TILE, th, tw, n, c), grad_y.dtype)
    for_blocks(xp, n, lambda block: _output_transform_adjoint(grad_y[:, :, block], dm[:, :, :, :, block]), dm.nbytes)
    return dm.reshape(TILE * TILE, th * tw * n, c)


def _output_transform_adjoint(grad_y: Any, dm: Any) -> None:
    xp = get_array_module(grad_y)
    th, tw = dm.shape[2:4]
    h, w = grad_y.shape[:2]
    if (h, w) != (STEP * th, STEP * tw):
        padded = xp.zeros((STEP * th, STEP * tw) + grad_y.shape[2:], dtype=grad_y.dtype)
        padded[:h, :w] = grad_y
        grad_y = padded
    rows = xp.empty((TILE, th, STEP * tw) + grad_y.shape[2:], dtype=grad_y.dtype)  # A along H
    sources = [grad_y[i::STEP] for i in range(STEP)]
    for a in range(TILE):
        _combine(rows[a], _nonzero([_AT[i][a] for i in range(STEP)], sources))
    sources = [rows[:, :, j::STEP] for j in range(STEP)]
    for b in range(TILE):
        _combine(dm[:, b], _nonzero([_AT[j][b] for j in range(STEP)], sources))


def _g(taps: Sequence[Any]) -> list[Any]:
    """G along one axis, 3 taps -> 4: (w0, (w0 + w1 + w2) / 2, (w0 - w1 + w2) / 2, w2)."""
    w0, w1, w2 = taps
    half_outer, half_middle = (w0 + w2) * 0.5, w1 * 0.5
    return [w0, half_outer + half_middle, half_outer - half_middle, w2]


def _g_transposed(taps: Sequence[Any]) -> list[Any]:
    """G.T along one axis, 4 -> 3 (the adjoint of ``_g``)."""
    u0, u1, u2, u3 = taps
    half_sum = (u1 + u2) * 0.5
    return [u0 + half_sum, (u1 - u2) * 0.5, u3 + half_sum]


def filter_transform(w: Any) -> Any:
    """(C_out, C_in, 3, 3) -> U (16, C_out, C_in) = G @ w @ G.T per channel pair."""
    xp = get_array_module(w)
    c_out, c_in = w.shape[:2]
    taps = xp.ascontiguousarray(w.transpose(2, 3, 0, 1))  # (3, 3, C_out, C_in): every tap a contiguous matrix
    u = xp.empty((TILE, TILE, c_out, c_in), dtype=w.dtype)
    for_blocks(xp, c_out, lambda block: _filter_transform(taps[:, :, block], u[:, :, block]), u.nbytes)
    return u.reshape(TILE * TILE, c_out, c_in)


def _filter_transform(taps: Any, u: Any) -> None:
    for a, row in enumerate(_g([taps[i] for i in range(3)])):
        for b, entry in enumerate(_g([row[j] for j in range(3)])):
            u[a, b] = entry


def filter_transform_adjoint(du: Any) -> Any:
    """The transpose of ``filter_transform``: (16, C_out, C_in) -> (C_out, C_in, 3, 3)."""
    xp = get_array_module(du)
    c_out, c_in = du.shape[1:]
    du = du.reshape(TILE, TILE, c_out, c_in)
    taps = xp.empty((3, 3, c_out, c_in), dtype=du.dtype)
    for_blocks(xp, c_out, lambda block: _filter_transform_adjoint(du[:, :, block], taps[:, :, block]), du.nbytes)
    return xp.ascontiguousarray(taps.transpose(2, 3, 0, 1))


def _filter_transform_adjoint(du: Any, taps: Any) -> None:
    for i, row in enumerate(_g_transposed([du[a] for a in range(TILE)])):
        for j, entry in enumerate(_g_transposed([row[b] for b in range(TILE)])):
            taps[i, j] = entry
