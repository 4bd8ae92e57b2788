"""Shared test setup.

- ``tests/`` goes on ``sys.path`` so that any test file can ``from parity import check_op``.
- ``SCRATCHGRAD_DATA`` points at the checkout's ``../shared/datasets`` when that folder
  exists and the variable is unset, so data tests find the files without a download.
"""
from __future__ import annotations

import os
import sys
from pathlib import Path

TESTS = Path(__file__).resolve().parent
if str(TESTS) not in sys.path:
    sys.path.insert(0, str(TESTS))


def pytest_configure(config: object) -> None:
    shared = TESTS.parent.parent / "shared" / "datasets"
    if "SCRATCHGRAD_DATA" not in os.environ and shared.is_dir():
        os.environ["SCRATCHGRAD_DATA"] = str(shared)
