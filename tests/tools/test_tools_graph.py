"""tools.to_dot: the autograd graph as DOT text."""
from __future__ import annotations

import re

import numpy as np

import scratchgrad as sg
from scratchgrad.tools import to_dot


def _parse(dot: str) -> tuple[dict[str, str], list[tuple[str, str]]]:
    """Nodes (id -> label) and edges of the simple DOT that to_dot writes; checks its frame."""
    assert dot.startswith("digraph {") and dot.rstrip().endswith("}")
    assert dot.count("{") == dot.count("}") == 1
    nodes = dict(re.findall(r'^  (n\d+) \[label="((?:[^"\\]|\\.)*)"', dot, re.MULTILINE))
    edges = re.findall(r"^  (n\d+) -> (n\d+)$", dot, re.MULTILINE)
    assert all(a in nodes and b in nodes for a, b in edges)
    return nodes, edges


def _small_graph():
    w = sg.tensor(np.arange(6.0).reshape(3, 2) / 10, dtype=sg.float32, requires_grad=True)
    b = sg.zeros(2, requires_grad=True)
    x = sg.ones(4, 3)  # an input that needs no grad: not drawn
    loss = (x @ w + b).relu().sum()
    return w, b, loss


def test_nodes_edges_and_shapes():
    w, b, loss = _small_graph()
    nodes, edges = _parse(to_dot(loss, {"weight": w, "bias": b}))
    labels = sorted(nodes.values())
    # output, sum, relu, add, matmul, and the two leaves
    assert len(nodes) == 7 and len(edges) == 6
    assert "weight\\n(3, 2)" in labels and "bias\\n(2)" in labels and "output ()" in labels
    assert any(label.startswith("MatMulBackward\\n(4, 2)") for label in labels)
    assert not any("grad norm" in label for label in labels)


def test_gradient_norms_after_backward():
    w, b, loss = _small_graph()
    loss.backward()
    nodes, _ = _parse(to_dot(loss, {"weight": w, "bias": b}))
    expected = float(np.linalg.norm(w.grad.numpy().astype(np.float64)))
    assert f"weight\\n(3, 2)\\ngrad norm {expected:.4g}" in nodes.values()
    assert "bias\\n(2)\\ngrad norm 5.657" in nodes.values()  # 4 rows per element: norm 4*sqrt(2)


def test_shared_inputs_and_unnamed_leaves_and_a_leaf_root():
    x = sg.randn(3, requires_grad=True)
    nodes, edges = _parse(to_dot(x * x))
    assert len(nodes) == 3 and edges.count(edges[-1]) == 2  # x feeds MulBackward twice
    nodes, edges = _parse(to_dot(x))
    assert list(nodes.values()) == ["(3)"] and edges == []


def test_deep_graph_without_recursion():
    x = sg.ones(1, requires_grad=True)
    y = x
    for _ in range(5000):
        y = y * 1.0
    nodes, edges = _parse(to_dot(y))
    assert len(nodes) == 5002 and len(edges) == 5001
