"""Figures of training curves, drawn with matplotlib's object API (no pyplot, no global state)."""
from __future__ import annotations

import io
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from .rundir import write_atomic

Rows = Sequence[dict[str, float]]


def plot_curves(rows: Rows, path: str | Path, title: str = "") -> None:
    """One run: train and test loss, train and test accuracy, per epoch."""
    figure, (loss_axes, acc_axes) = _figure(2, title)
    epochs = [row["epoch"] for row in rows]
    for split, style in (("train", "--"), ("test", "-")):
        loss_axes.plot(epochs, [row[f"{split}_loss"] for row in rows], style, marker=".", label=split)
        acc_axes.plot(epochs, [100 * row[f"{split}_acc"] for row in rows], style, marker=".", label=split)
    _finish(loss_axes, acc_axes)
    _save(figure, path)


def plot_runs(runs: Sequence[tuple[str, Rows]], path: str | Path, title: str = "") -> None:
    """Several runs: test loss and test accuracy of each ``(label, rows)``, one color per run."""
    figure, (loss_axes, acc_axes) = _figure(2, title)
    for label, rows in runs:
        epochs = [row["epoch"] for row in rows]
        line, = acc_axes.plot(epochs, [100 * row["test_acc"] for row in rows], label=label)
        loss_axes.plot(epochs, [row["test_loss"] for row in rows], color=line.get_color(), label=label)
    _finish(loss_axes, acc_axes, prefix="test ")
    _save(figure, path)


def _figure(panels: int, title: str) -> tuple[Any, Any]:
    from matplotlib.figure import Figure  # optional dependency: pip install 'scratchgrad[plot]'

    figure = Figure(figsize=(5 * panels, 3.8), layout="constrained")
    axes = figure.subplots(1, panels)
    if title:
        figure.suptitle(title)
    return figure, axes


def _finish(loss_axes: Any, acc_axes: Any, prefix: str = "") -> None:
    from matplotlib.ticker import MaxNLocator

    loss_axes.set(xlabel="epoch", ylabel=f"{prefix}loss (cross-entropy)")
    acc_axes.set(xlabel="epoch", ylabel=f"{prefix}accuracy (%)")
    for axes in (loss_axes, acc_axes):
        axes.grid(alpha=0.3)
        axes.xaxis.set_major_locator(MaxNLocator(integer=True))
        axes.legend(fontsize="small")


def _save(figure: Any, path: str | Path) -> None:
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=100)
    write_atomic(path, buffer.getvalue())
