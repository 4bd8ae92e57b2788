"""The layers of the engine: ``kernels/`` and ``runtime/`` work on arrays only.

They must never import ``tensor``, ``tensor_methods``, ``autograd``, ``grad_mode`` or ``ops``: checked
in the source (every import statement, relative ones resolved) and by importing each module first
in a fresh process (see ``import_probe.py``), where none of those may end up loaded.
"""
from __future__ import annotations

import ast
import os
from pathlib import Path

import pytest
from import_probe import import_first

import scratchgrad

PACKAGE = Path(scratchgrad.__file__).parent
ARRAY_LAYERS = ("kernels", "runtime")
FORBIDDEN = ("scratchgrad.tensor", "scratchgrad.tensor_methods", "scratchgrad.autograd", "scratchgrad.grad_mode", "scratchgrad.ops")
SOURCES = sorted(path for layer in ARRAY_LAYERS for path in (PACKAGE / layer).rglob("*.py"))


def module_name(path: Path) -> str:
    parts = ("scratchgrad",) + path.relative_to(PACKAGE).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imported_modules(source: str, package: str) -> set[str]:
    """Every module an import statement of ``source`` (a module of ``package``) names: for
    ``from X import a``, X and X.a (a may be a submodule); relative imports resolved."""
    names = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            parts = package.split(".")
            base = parts[: len(parts) - node.level + 1] if node.level else []
            source = ".".join(base + ([node.module] if node.module else []))
            names.add(source)
            names.update(f"{source}.{alias.name}" for alias in node.names)
    return names


def is_forbidden(name: str) -> bool:
    return any(name == f or name.startswith(f + ".") for f in FORBIDDEN)


def test_the_array_layers_have_modules():
    assert {module_name(p) for p in SOURCES} >= {"scratchgrad.kernels.conv", "scratchgrad.runtime.threads"}


def package_of(path: Path) -> str:
    return module_name(path) if path.name == "__init__.py" else module_name(path).rpartition(".")[0]


@pytest.mark.parametrize("path", SOURCES, ids=module_name)
def test_no_array_layer_module_imports_tensor_autograd_or_ops(path):
    assert not sorted(filter(is_forbidden, imported_modules(path.read_text(), package_of(path))))


@pytest.mark.parametrize("statement", [
    "from ..tensor import Tensor", "from .. import autograd", "from ..ops.conv import Conv2d", "import scratchgrad.ops.conv", "from scratchgrad import tensor_methods", "from ..grad_mode import no_grad",
    "def f():\n    from ..autograd.function import Function",  # inside a function too
])
def test_the_source_check_sees_every_form_of_import(statement):
    assert any(map(is_forbidden, imported_modules(statement, "scratchgrad.kernels")))


def test_the_source_check_allows_the_array_modules():
    allowed = "from ..backend import get_array_module\nfrom ..runtime import threads\nfrom . import winograd\nimport numpy as np"
    assert not any(map(is_forbidden, imported_modules(allowed, "scratchgrad.kernels")))


@pytest.mark.skipif(not hasattr(os, "fork"), reason="the probe forks a process per module")
def test_importing_an_array_layer_module_loads_no_tensor_autograd_or_ops():
    results = import_first([module_name(p) for p in SOURCES])
    for name, result in results.items():
        assert result["error"] is None, result["error"]
        assert not [m for m in result["loaded"] if is_forbidden(m)], (name, result["loaded"])
