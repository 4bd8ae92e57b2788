"""The GIL's ceiling on narrow conv layers: two independent copies of a layer's forward + backward
in two Python threads at once, against one after the other (scratchgrad on one thread each).

    python benchmarks/gil_ceiling.py

A speedup well under 2 on a 2-core machine means the layer's small NumPy calls take turns on
the GIL, so no split of its work into threads can do better (benchmarks/README.md, session 10).
"""
from __future__ import annotations

import threading
import time
from typing import Callable

import numpy as np

import scratchgrad

LAYERS = [(128, 128, 7), (32, 64, 14)]  # (C_in, C_out, side) of the Fashion-MNIST study's C5L3 x0.25
BATCH, REPEATS = 16, 20


def layer_step(rng: np.random.Generator, c_in: int, c_out: int, side: int) -> Callable[[], None]:
    """Forward + backward of one 3x3 conv layer on inputs laid out as a conv output is."""
    x = rng.standard_normal((side, side, BATCH, c_in), dtype=np.float32)
    sx = scratchgrad.tensor(x).permute(2, 3, 0, 1).requires_grad_()
    sw = scratchgrad.tensor(rng.standard_normal((c_out, c_in, 3, 3), dtype=np.float32) / 10, requires_grad=True)
    grad = scratchgrad.tensor(rng.standard_normal((side, side, BATCH, c_out), dtype=np.float32)).permute(2, 3, 0, 1)
    return lambda: scratchgrad.nn.functional.conv2d(sx, sw, padding=1).backward(grad)


def repeat(step: Callable[[], None]) -> None:
    for _ in range(REPEATS):
        step()


def main() -> None:
    scratchgrad.set_num_threads(1)
    rng = np.random.default_rng(0)
    for c_in, c_out, side in LAYERS:
        steps = [layer_step(rng, c_in, c_out, side) for _ in range(2)]
        for step in steps:
            step(), step()
        start = time.perf_counter()
        for step in steps:
            repeat(step)
        one_after_other = time.perf_counter() - start
        workers = [threading.Thread(target=repeat, args=(step,)) for step in steps]
        start = time.perf_counter()
        for worker in workers:
            worker.start()
        for worker in workers:
            worker.join()
        together = time.perf_counter() - start
        print(f"{c_in:3d} -> {c_out:3d} at {side}x{side}, batch {BATCH}: one after the other {one_after_other * 1e3:.0f} ms, "
              f"in two threads {together * 1e3:.0f} ms, speedup {one_after_other / together:.2f}")


if __name__ == "__main__":
    main()
