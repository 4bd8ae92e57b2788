"""``scratchgrad demo``: train the small CNN on the shipped MNIST sample with the scratch engine.

A normal run (resumable, with metrics, weights and curves) that needs no download and
takes a minute or two on a laptop CPU.
"""
from __future__ import annotations

from pathlib import Path

from .config import resolve
from .rundir import unique_dir
from .train import train

# The one recipe the demo uses: 6,000 training images, 2 epochs, a cosine-decayed Adam.
DEMO = {
    "name": "demo",
    "epochs": 2,
    "batch_size": 64,
    "seed": 0,
    "engine": "scratch",
    "data": {"dataset": "mnist-sample"},
    "model": {"name": "small_cnn"},
    "optim": {"name": "adam", "lr": 2e-3, "weight_decay": 0.0},
    "schedule": {"name": "cosine"},
}


def demo(out: str | Path | None = None) -> int:
    """Run the demo in ``out`` (default ``runs/demo``, made unique); returns the exit status."""
    config = resolve(DEMO, "demo")
    return train(config, out if out is not None else unique_dir(Path("runs") / "demo"))
