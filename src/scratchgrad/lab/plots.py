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
    figure, [(loss_axes, acc_axes)] = _figure(2, title)
    epochs = [row["epoch"] for row in rows]
    has_val = any(row["val_acc"] == row["val_acc"] for row in rows)  # nan != nan: no split
    for split, style in (("train", "--"), ("val", ":"), ("test", "-"))[:: 1 if has_val else 2]:
        loss_axes.plot(epochs, [row[f"{split}_loss"] for row in rows], style, marker=".", label=split)
        acc_axes.plot(epochs, [100 * row[f"{split}_acc"] for row in rows], style, marker=".", label=split)
    _finish(loss_axes, acc_axes)
    _save(figure, path)


def plot_groups(groups: Sequence[tuple[str, str, Sequence[Rows]]], path: str | Path, title: str = "") -> None:
    """Several settings, each ``(panel, label, rows of each seed's run)``: test accuracy and loss
    per epoch, one row of the two panels per ``panel`` (e.g. the dataset), in first-seen order.

    One color per setting: the mean over its runs as a line and mean ± std as a band; the
    validation accuracy (where held out) as a dashed line in the accuracy panel.
    """
    panels = list(dict.fromkeys(panel for panel, _, _ in groups))
    figure, axes = _figure(2, title, rows=len(panels), panel_width=6.5)  # room for the legend
    for row, panel in zip(axes, panels):
        acc_axes, loss_axes = row
        for _, label, runs in (group for group in groups if group[0] == panel):
            _plot_setting(acc_axes, loss_axes, label, runs)
        _finish(loss_axes, acc_axes, prefix="test ", title=panel, legend_outside=True)
    _save(figure, path)


def _plot_setting(acc_axes: Any, loss_axes: Any, label: str, runs: Sequence[Rows]) -> None:
    import numpy as np

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
                           label=None if key == "val_acc" else label)
        line = line or drawn
        if key != "val_acc":
            axes.fill_between(x, mean - std, mean + std, color=drawn.get_color(), alpha=0.2, linewidth=0)


def _figure(panels: int, title: str, rows: int = 1, panel_width: float = 5) -> tuple[Any, Any]:
    """A figure of ``rows`` x ``panels`` axes (a 2-D array of them)."""
    from matplotlib.figure import Figure  # optional dependency: pip install 'scratchgrad[plot]'

    figure = Figure(figsize=(panel_width * panels, 3.8 * rows), layout="constrained")
    axes = figure.subplots(rows, panels, squeeze=False)
    if title:
        figure.suptitle(title)
    return figure, axes


def _finish(loss_axes: Any, acc_axes: Any, prefix: str = "", title: str = "", legend_outside: bool = False) -> None:
    from matplotlib.lines import Line2D
    from matplotlib.ticker import MaxNLocator

    loss_axes.set(xlabel="epoch", ylabel=f"{prefix}loss (cross-entropy)")
    acc_axes.set(xlabel="epoch", ylabel=f"{prefix}accuracy (%)", title=title)
    for axes in (loss_axes, acc_axes):
        axes.grid(alpha=0.3)
        axes.xaxis.set_major_locator(MaxNLocator(integer=True))
    if legend_outside:  # settings by color, beside the loss panel, where no curve is drawn
        handles, labels = acc_axes.get_legend_handles_labels()
        if any(line.get_linestyle() == "--" for line in acc_axes.get_lines()):
            handles.append(Line2D([], [], color="gray", linestyle="--"))
            labels.append("validation accuracy (dashed)")
        loss_axes.legend(handles, labels, fontsize="small", loc="upper left", bbox_to_anchor=(1.02, 1))
    else:
        for axes in (loss_axes, acc_axes):
            axes.legend(fontsize="small")


def _save(figure: Any, path: str | Path) -> None:
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=100)
    write_atomic(path, buffer.getvalue())
