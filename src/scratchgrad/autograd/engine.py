"""The backward graph walk: iterative (no recursion limit), in topological order.

Gradients are summed back to each input's shape and cast to its dtype here, once, so
that ops may return broadcast-shaped gradients.
"""
from __future__ import annotations

import weakref
from collections import deque
from typing import Any, Sequence

from ..backend import get_array_module, memory_owner
from ..grad_mode import set_grad_enabled
from ..tensor import Tensor
from .function import Context


def _edge_node(edge: Any) -> Context | None:
    return edge[0] if isinstance(edge, tuple) else None


def _count_dependencies(roots: Sequence[Context]) -> tuple[dict[Context, int], list[Context]]:
    """In-degree of every node reachable from ``roots``, and the nodes in discovery order."""
    dependencies: dict[Context, int] = {root: 0 for root in roots}
    order = list(dependencies)
    stack = list(dependencies)
    while stack:
        node = stack.pop()
        for edge in node.next_edges:
            child = _edge_node(edge)
            if child is None:
                continue
            if child not in dependencies:
                dependencies[child] = 0
                order.append(child)
                stack.append(child)
            dependencies[child] += 1
    return dependencies, order


def _nodes_leading_to(order: list[Context], targets: set[int]) -> set[Context]:
    """Nodes with a path to a target (a node id or a leaf tensor id) through at least one edge."""
    parents: dict[Context, list[Context]] = {}
    stack = []
    for node in order:
        for edge in node.next_edges:
            if edge is None:
                continue
            child = _edge_node(edge)
            if id(edge if child is None else child) in targets:
                stack.append(node)
            if child is not None:
                parents.setdefault(child, []).append(node)
    needed: set[Context] = set()
    while stack:
        node = stack.pop()
        if node not in needed:
            needed.add(node)
            stack.extend(parents.get(node, ()))
    return needed


def sum_to_shape(grad: Any, shape: tuple[int, ...], dtype: Any) -> Any:
    """Undo broadcasting: sum ``grad`` down to ``shape``, and cast it to ``dtype``."""
    if grad.shape != tuple(shape):
        extra = grad.ndim - len(shape)
        if extra < 0:
            raise RuntimeError(f"backward: gradient of shape {grad.shape} cannot be summed to input shape {tuple(shape)}")
        dims = tuple(range(extra)) + tuple(extra + i for i, n in enumerate(shape) if n == 1 and grad.shape[extra + i] != 1)
        if dims:
            grad = grad.sum(dim=dims, keepdim=True)
        grad = grad.reshape(shape)
    return grad if grad.dtype == dtype else grad.to(dtype)


def run_backward(
    outputs: Sequence[Any],
    grad_outputs: Sequence[Any],
    retain_graph: bool,
    create_graph: bool,
    inputs: Sequence[Any] | None = None,
) -> list[Any] | None:
    """Propagate ``grad_outputs`` from ``outputs`` through the graph.

    With ``inputs=None`` gradients accumulate into the leaves' ``.grad``; otherwise the
    gradients with respect to ``inputs`` are returned and no ``.grad`` is touched.
    """
    buffers: dict[Context, list[Any]] = {}
    captured: dict[int, Any] = {}
    passed: dict[int, Any] = {}  # the memory of every gradient given to a backward (weak references, by id)
    _note_passed(passed, grad_outputs)
    roots = []
    for out, grad in zip(outputs, grad_outputs):
        if out.grad_fn is None:
            _deliver_to_leaf(out, grad, inputs, captured, create_graph, owned=False)
            continue
        _add_to_buffer(buffers, out.grad_fn, out._output_nr, grad)
        roots.append(out.grad_fn)
    dependencies, order = _count_dependencies(list(dict.fromkeys(roots)))
    needed = None
    if inputs is not None:
        needed = _nodes_leading_to(order, {id(t.grad_fn) if t.grad_fn is not None else id(t) for t in inputs})
    ready = deque(node for node, count in dependencies.items() if count == 0)
    while ready:
        node = ready.popleft()
        grads = buffers.pop(node, [None] * node.num_outputs)
        if inputs is not None:
            _capture_outputs(node, grads, inputs, captured)
        elif node.retained:
            _fill_retained_grads(node, grads, create_graph)
        if needed is None or node in needed:
            _note_passed(passed, grads)
            input_grads = _call_backward(node, grads, create_graph)
        else:
            input_grads = [None] * len(node.next_edges)
        input_grads = [
            None if grad is None or edge is None else sum_to_shape(grad, *meta)
            for grad, edge, meta in zip(input_grads, node.next_edges, node.input_meta)
        ]
        for edge, grad, owned in zip(node.next_edges, input_grads, _owned(node, input_grads, passed)):
            child = _edge_node(edge)
            if grad is not None:
                if child is None:
                    _deliver_to_leaf(edge, grad, inputs, captured, create_graph, owned)
                else:
                    _add_to_buffer(buffers, child, edge[1], grad)
            if child is not None:
                dependencies[child] -= 1
                if dependencies[child] == 0:
                    ready.append(child)
        if not retain_graph:
            node.free()
    if inputs is None:
        return None
    return [captured.get(id(t)) for t in inputs]


def _call_backward(node: Context, grads: list[Any], create_graph: bool) -> list[Any]:
    if create_graph and getattr(node.function, "once_differentiable", False):
        raise RuntimeError(f"{node.name} is differentiable only once; create_graph=True through it is not supported")
    with set_grad_enabled(create_graph):
        if any(g is None for g in grads):  # as PyTorch: missing output gradients are zeros
            grads = [Tensor(xp.zeros(shape, dtype)) if g is None else g for g, (shape, dtype, xp) in zip(grads, node.output_meta)]
        result = node.function.backward(node, *grads)
    result = list(result) if isinstance(result, (tuple, list)) else [result]
    while len(result) > len(node.next_edges) and result[-1] is None:  # as PyTorch: extra Nones are ignored
        result.pop()
    if len(result) != len(node.next_edges):
        raise RuntimeError(
            f"{node.function.__name__}.backward returned {len(result)} gradients, expected "
            f"{len(node.next_edges)} (one per argument of forward)"
        )
    return [g if g is None or isinstance(g, Tensor) else Tensor(g) for g in result]


def _add_to_buffer(buffers: dict[Context, list[Any]], node: Context, index: int, grad: Any) -> None:
    slots = buffers.setdefault(node, [None] * node.num_outputs)
    slots[index] = grad if slots[index] is None else slots[index] + grad


def _capture_outputs(node: Context, grads: list[Any], inputs: Sequence[Any], captured: dict[int, Any]) -> None:
    for tensor in inputs:
        if tensor.grad_fn is node and grads[tensor._output_nr] is not None:
            captured[id(tensor)] = grads[tensor._output_nr]


def _fill_retained_grads(node: Context, grads: list[Any], create_graph: bool) -> None:
    """``.grad`` of the non-leaf tensors that asked for it with ``retain_grad()``."""
    for index, reference in node.retained:
        tensor, grad = reference(), grads[index]
        if tensor is None or grad is None:
            continue
        grad = grad if create_graph else grad.detach()
        tensor.grad = grad if tensor.grad is None else tensor.grad + grad


def _note_passed(passed: dict[int, Any], grads: Sequence[Any]) -> None:
    # Weak references: ids of arrays freed since are reused by new ones, which are not shared.
    for grad in grads:
        if grad is not None:
            memory = memory_owner(grad.array)
            passed[id(memory)] = weakref.ref(memory)


def _owned(node: Context, grads: list[Any], passed: dict[int, Any]) -> list[bool]:
    """Per gradient from ``node``'s backward: whether nothing else refers to its memory (not a
    gradient that was passed to a backward, nor the memory of another of these gradients), so
    that a leaf may keep it as its ``.grad`` without a copy, as PyTorch's AccumulateGrad steals a
    gradient. Only the built-in Functions are trusted not to keep what they return."""
    if not node.function.__module__.startswith(_BUILTIN):
        return [False] * len(grads)
    memory = [None if grad is None else memory_owner(grad.array) for grad in grads]
    ids = [id(m) for m in memory]
    return [
        m is not None and ids.count(id(m)) == 1 and (id(m) not in passed or passed[id(m)]() is not m)
        for m in memory
    ]


_BUILTIN = __name__.split(".")[0] + "."


def _laid_out_like(leaf: Any, grad: Any, owned: bool) -> Any:
    """``grad`` as the leaf's ``.grad``, in the leaf's memory layout (PyTorch's gradient layout
    contract): itself if nothing else refers to its memory (the same array may reach several
    leaves: a + b) and its strides are the leaf's, else a copy with the leaf's order of axes."""
    if owned and grad.array.strides == leaf.array.strides:
        return grad
    out = get_array_module(grad.array).empty_like(leaf.array, dtype=grad.dtype)
    out[...] = grad.array
    return type(grad)(out)


def _deliver_to_leaf(leaf: Any, grad: Any, inputs: Sequence[Any] | None, captured: dict[int, Any],
                     create_graph: bool, owned: bool) -> None:
    if inputs is not None:
        key = id(leaf)
        captured[key] = grad if key not in captured else captured[key] + grad
        return
    if not leaf.requires_grad:
        return
    if leaf.grad is None:
        if create_graph:
            leaf.grad = grad
        else:
            leaf.grad = _laid_out_like(leaf, grad.detach(), owned)
    elif create_graph or leaf.grad.requires_grad:
        leaf.grad = leaf.grad + grad
    else:
        leaf.grad.array += grad.array

