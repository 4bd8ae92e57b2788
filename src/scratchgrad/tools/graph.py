"""``to_dot``: the autograd graph behind a tensor as Graphviz DOT text (like torchviz's ``make_dot``)."""
from __future__ import annotations

from typing import Any

import numpy as np

from ..autograd.function import Context
from ..tensor import Tensor

_OP_STYLE = 'fillcolor="lightgrey"'
_LEAF_STYLE = 'fillcolor="lightblue"'
_OUTPUT_STYLE = 'fillcolor="darkolivegreen1"'


def to_dot(tensor: Tensor, params: dict[str, Tensor] | None = None) -> str:
    """The graph that produced ``tensor``, in the DOT language (render with ``dot -Tsvg``).

    One box per operation (its backward's name and output shape), one per leaf tensor
    that requires grad (its name from ``params``, its shape, and after ``backward`` the
    norm of its gradient), and one for ``tensor`` itself; edges run from inputs to the
    operations that use them. The walk is iterative, so deep graphs are fine.

    Args:
        tensor: the output whose graph is drawn.
        params: names for leaf tensors, e.g. ``dict(model.named_parameters())``.
    """
    names = {id(t): name for name, t in (params or {}).items()}
    ids: dict[int, str] = {}

    def node_id(obj: Any) -> str:
        return ids.setdefault(id(obj), f"n{len(ids)}")

    lines = ["digraph {", '  node [shape=box, style=filled, fontname="monospace", fontsize=10]']
    root = tensor.grad_fn if tensor.grad_fn is not None else tensor
    if tensor.grad_fn is not None:
        lines.append(f"  {node_id(tensor)} [label={_quote('output ' + _shape(tensor.shape))}, {_OUTPUT_STYLE}]")
        lines.append(f"  {node_id(root)} -> {node_id(tensor)}")
    stack, seen = [root], {id(root)}
    while stack:
        obj = stack.pop()
        if isinstance(obj, Context):
            label = obj.name + "\n" + ", ".join(_shape(shape) for shape, _, _ in obj.output_meta)
            lines.append(f"  {node_id(obj)} [label={_quote(label)}, {_OP_STYLE}]")
            children = [edge if isinstance(edge, Tensor) else edge[0] for edge in obj.next_edges if edge is not None]
        else:
            lines.append(f"  {node_id(obj)} [label={_quote(_leaf_label(obj, names.get(id(obj))))}, {_LEAF_STYLE}]")
            children = []
        for child in children:
            lines.append(f"  {node_id(child)} -> {node_id(obj)}")
            if id(child) not in seen:
                seen.add(id(child))
                stack.append(child)
    lines.append("}")
    return "\n".join(lines) + "\n"


def _leaf_label(leaf: Tensor, name: str | None) -> str:
    parts = [name] if name else []
    parts.append(_shape(leaf.shape))
    if leaf.grad is not None:
        grad = leaf.grad.array
        norm = float(leaf.grad.xp.sqrt((grad.astype(np.float64) ** 2).sum()))
        parts.append(f"grad norm {norm:.4g}")
    return "\n".join(parts)


def _shape(shape: tuple[int, ...]) -> str:
    return "(" + ", ".join(str(n) for n in shape) + ")"


def _quote(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'
