"""Import each named scratchgrad module first, in a process of its own; print what each loaded (JSON).

Tests call ``import_first(names)``, which runs ``python import_probe.py PATH/TO/scratchgrad/__init__.py
MODULE...`` (scratchgrad must not be imported in the probe's own process). That process imports
NumPy only, then forks one child per module (a few at a time): in each child no scratchgrad
module has run yet, and the package's ``__init__`` is bypassed (an empty package object stands in
for it), so the named module really is the first to run and must import everything it needs
itself, in an order of its own. Forking saves each child NumPy's import (most of the time).
Result per module: ``{"error": traceback or None, "loaded": [scratchgrad modules loaded]}``.
"""
from __future__ import annotations

import importlib
import importlib.util
import json
import os
import subprocess
import sys
import traceback

import numpy  # noqa: F401 - loaded once, before forking


def probe(name: str, init_file: str) -> dict:
    spec = importlib.util.spec_from_file_location("scratchgrad", init_file, submodule_search_locations=[os.path.dirname(init_file)])
    sys.modules["scratchgrad"] = importlib.util.module_from_spec(spec)  # the package, its __init__ not run
    try:
        importlib.import_module(name)
    except BaseException:  # noqa: BLE001 - reported to the test
        return {"error": traceback.format_exc(), "loaded": []}
    return {"error": None, "loaded": sorted(m for m in sys.modules if m.startswith("scratchgrad."))}


def start(name: str, init_file: str) -> tuple[int, int]:
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(read)
        with os.fdopen(write, "w") as out:
            out.write(json.dumps(probe(name, init_file)))
        os._exit(0)
    os.close(write)
    return pid, read


def finish(pid: int, read: int) -> dict:
    with os.fdopen(read) as f:
        text = f.read()
    _, status = os.waitpid(pid, 0)
    return json.loads(text) if text else {"error": f"the child exited with status {status} and no result", "loaded": []}


def main(init_file: str, names: list[str]) -> dict[str, dict]:
    running: dict[str, tuple[int, int]] = {}
    results = {}
    for name in names:
        if len(running) >= (os.cpu_count() or 1):
            oldest = next(iter(running))
            results[oldest] = finish(*running.pop(oldest))
        running[name] = start(name, init_file)
    for name, child in running.items():
        results[name] = finish(*child)
    return results


def import_first(names: list[str]) -> dict[str, dict]:
    """The result for each of ``names`` (scratchgrad modules), each imported first in its own process."""
    init_file = importlib.util.find_spec("scratchgrad").origin  # found, not imported
    done = subprocess.run([sys.executable, __file__, init_file, *names], capture_output=True, text=True, timeout=300)
    if done.returncode != 0:
        raise RuntimeError(f"import_probe.py failed:\n{done.stderr}")
    return json.loads(done.stdout)


if __name__ == "__main__":
    print(json.dumps(main(sys.argv[1], sys.argv[2:])))
