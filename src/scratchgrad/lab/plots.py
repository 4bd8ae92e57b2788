"""Figures of training curves, drawn with matplotlib's object API (no pyplot, no global state)."""
from __future__ import annotations

import io
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from .rundir import write_atomic

Rows = Sequence[dict[str, float]]


def plot_curves(rows: Rows, path: str | Path, title: str = "") -> None:
    """One run: train, validation (when held out) and test loss and accuracy, per epoch."""
    figure, (loss_axes, acc_axes) = _figure(2, title)
    epochs = [row["epoch"] for row in rows]
    has_val = any(row["val_acc"] == row["val_acc"] for row in rows)  # nan != nan: no split
    for split, style in (("train", "--"), ("val", ":"), ("test", "-"))[:: 1 if has_val else 2]:
        loss_axes.plot(epochs, [row[f"{split}_loss"] for row in rows], style, marker=".", label=split)
        acc_axes.plot(epochs, [100 * row[f"{split}_acc"] for row in rows], style, marker=".", label=split)
    _finish(loss_axes, acc_axes)
    _save(figure, path)


def plot_groups(groups: Sequence[tuple[str, Sequence[Rows]]], path: str | Path, title: str = "") -> None:
    """Several settings, each ``(label, rows of each seed's run)``: test loss and accuracy per epoch.

    One color per setting: the mean over its runs as a line and mean ± std as a band; the
    validation accuracy (where held out) as a dashed line in the accuracy panel.
    """
    import numpy as np

    figure, (loss_axes, acc_axes) = _figure(2, title)
    for label, runs in groups:
        epochs = min(len(rows) for rows in runs)
        x = [row["epoch"] for row in runs[0][:epochs]]
        line = None
        for axes, key, scale in ((acc_axes, "test_acc", 100), (loss_axes, "test_loss", 1), (acc_axes, "val_acc", 100)):
            values = scale * np.array([[row[key] for row in rows[:epochs]] for rows in runs])
            if np.isnan(values).all():
                continue
            mean, std = values.mean(0), values.std(0, ddof=1) if len(runs) > 1 else np.zeros(epochs)
            color = line.get_color() if line is not None else None
            drawn, = axes.plot(x, mean, "--" if key == "val_acc" else "-", color=color,
                               label=f"{label}, val" if key == "val_acc" else label)
            line = line or drawn
            if key != "val_acc":
                axes.fill_between(x, mean - std, mean + std, color=drawn.get_color(), alpha=0.2, linewidth=0)
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
