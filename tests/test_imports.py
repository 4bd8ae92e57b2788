"""No import cycle that depends on order: every module of scratchgrad can be the first one imported.

Each module is imported first in a process of its own with the package's ``__init__`` bypassed
(see ``import_probe.py``), so that no import order chosen elsewhere helps it: a module that
relied on another being loaded before it (an import at the bottom of a file, methods attached
by a module it does not import) fails here.
"""
from __future__ import annotations

import os
import pkgutil

import pytest
from import_probe import import_first

import scratchgrad

pytestmark = pytest.mark.skipif(not hasattr(os, "fork"), reason="the probe forks a process per module")

MODULES = sorted(m.name for m in pkgutil.walk_packages(scratchgrad.__path__, "scratchgrad."))


@pytest.fixture(scope="module")
def first_imports() -> dict[str, dict]:
    return import_first(MODULES)


def test_every_module_is_found():
    assert {"scratchgrad.tensor", "scratchgrad.grad_mode", "scratchgrad.autograd.function", "scratchgrad.kernels.conv",
            "scratchgrad.runtime.threads", "scratchgrad.nn.functional", "scratchgrad.lab.cli"} <= set(MODULES)


@pytest.mark.parametrize("name", MODULES)
def test_module_imports_first_in_a_fresh_process(name, first_imports):
    result = first_imports[name]
    assert result["error"] is None, f"importing {name} first failed:\n{result['error']}"
    assert name in result["loaded"]


def test_grad_mode_is_a_leaf(first_imports):
    assert first_imports["scratchgrad.grad_mode"]["loaded"] == ["scratchgrad.grad_mode"]


def test_tensor_imports_no_op_and_no_autograd(first_imports):
    loaded = first_imports["scratchgrad.tensor"]["loaded"]
    assert not [m for m in loaded if m.startswith(("scratchgrad.ops", "scratchgrad.autograd", "scratchgrad.tensor_methods"))], loaded
