"""``scratchgrad demo``: train the small CNN on the shipped MNIST sample with the scratch engine.

A normal run (resumable, with metrics, weights and curves) that needs no download and
takes a minute or two on a laptop CPU.
"""
from __future__ import annotations

from pathlib import Path

from .config import resolve
from .rundir import unique_dir
from .train import train

# 6,000 training images, 5 epochs of Adam with a cosine decay. Measured final test accuracy
# (1,000 images) over seeds 0-4: 97.8, 98.1, 98.0, 96.9, 98.0% (3 epochs: 96.8-97.4%).
DEMO = {
    "name": "demo",
    "epochs": 5,
    "batch_size": 32,
    "seed": 0,
    "engine": "scratch",
    "data": {"dataset": "mnist-sample"},
    "model": {"name": "small_cnn"},
    "optim": {"name": "adam", "lr": 5e-3, "weight_decay": 0.0},
    "schedule": {"name": "cosine"},
}


def demo(out: str | Path | None = None) -> int:
    """Run the demo in ``out`` (default ``runs/demo``, made unique); returns the exit status."""
    config = resolve(DEMO, "demo")
    return train(config, out if out is not None else unique_dir(Path("runs") / "demo"))
