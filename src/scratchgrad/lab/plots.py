"""Figures of training curves, drawn with matplotlib's object API (no pyplot, no global state)."""
from __future__ import annotations

import io
from collections.abc import Sequence
from pathlib import Path
from typing import Any, NamedTuple

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


class Setting(NamedTuple):
    """One line of a groups figure: ``runs`` holds each seed's metrics rows."""

    panel: str  # the row of panels it is drawn in (e.g. the dataset)
    label: str
    runs: Sequence[Rows]
    color_key: str = ""  # settings with the same key share a color (e.g. one config on two engines)
    marked: bool = False  # drawn with markers, to tell it from the unmarked setting of its color


def plot_groups(settings: Sequence[Setting], path: str | Path, title: str = "") -> None:
    """Test error (log scale, so that 0.5 % and 1 % are as far apart as 10 % and 20 %; linear where an
    error is 0) and test loss per epoch, one row of the two panels per ``panel``, in first-seen order.

    Each setting: the mean over its runs as a line and mean ± std as a band; the validation error
    (where held out) as a dashed line in the error panel.
    """
    panels = list(dict.fromkeys(setting.panel for setting in settings))
    figure, axes = _figure(2, title, rows=len(panels), panel_width=6.5)  # room for the legend
    for row, panel in zip(axes, panels):
        error_axes, loss_axes = row
        drawn = [setting for setting in settings if setting.panel == panel]
        keys = list(dict.fromkeys(setting.color_key or setting.label for setting in drawn))
        for setting in drawn:
            _plot_setting(error_axes, loss_axes, setting, f"C{keys.index(setting.color_key or setting.label) % 10}")
        if all(line.get_ydata().min() > 0 for line in error_axes.get_lines()):  # an error of 0 has no log
            error_axes.set_yscale("log")
            error_axes.yaxis.set_major_formatter("{x:g}")
            error_axes.yaxis.set_minor_formatter("{x:g}")
        _finish(loss_axes, error_axes, prefix="test ", title=panel, legend_outside=True, metric="error")
    _save(figure, path)


def _plot_setting(error_axes: Any, loss_axes: Any, setting: Setting, color: str) -> None:
    import numpy as np

    epochs = min(len(rows) for rows in setting.runs)
    x = [row["epoch"] for row in setting.runs[0][:epochs]]
    marker = "x" if setting.marked else None
    for axes, key, to_plot in ((error_axes, "test_acc", _error), (loss_axes, "test_loss", float),
                               (error_axes, "val_acc", _error)):
        values = np.array([[to_plot(row[key]) for row in rows[:epochs]] for rows in setting.runs])
        if np.isnan(values).all():
            continue
        mean, std = values.mean(0), values.std(0, ddof=1) if len(setting.runs) > 1 else np.zeros(epochs)
        validation = key == "val_acc"
        axes.plot(x, mean, "--" if validation else "-", color=color, marker=marker,
                  label=None if validation else setting.label)
        if not validation:
            axes.fill_between(x, mean - std, mean + std, color=color, alpha=0.2, linewidth=0)


def _error(accuracy: float) -> float:
    return 100 * (1 - accuracy)


def _figure(panels: int, title: str, rows: int = 1, panel_width: float = 5) -> tuple[Any, Any]:
    """A figure of ``rows`` x ``panels`` axes (a 2-D array of them)."""
    from matplotlib.figure import Figure  # optional dependency: pip install 'scratchgrad[plot]'

    figure = Figure(figsize=(panel_width * panels, 3.8 * rows), layout="constrained")
    axes = figure.subplots(rows, panels, squeeze=False)
    if title:
        figure.suptitle(title)
    return figure, axes


def _finish(loss_axes: Any, metric_axes: Any, prefix: str = "", title: str = "", legend_outside: bool = False,
            metric: str = "accuracy") -> None:
    from matplotlib.lines import Line2D
    from matplotlib.ticker import MaxNLocator

    loss_axes.set(xlabel="epoch", ylabel=f"{prefix}loss (cross-entropy)")
    metric_axes.set(xlabel="epoch", ylabel=f"{prefix}{metric} (%)", title=title)
    for axes in (loss_axes, metric_axes):
        axes.grid(alpha=0.3)
        axes.xaxis.set_major_locator(MaxNLocator(integer=True))
    if legend_outside:  # settings by color, beside the loss panel, where no curve is drawn
        handles, labels = metric_axes.get_legend_handles_labels()
        if any(line.get_linestyle() == "--" for line in metric_axes.get_lines()):
            handles.append(Line2D([], [], color="gray", linestyle="--"))
            labels.append(f"validation {metric} (dashed)")
        loss_axes.legend(handles, labels, fontsize="small", loc="upper left", bbox_to_anchor=(1.02, 1))
    else:
        for axes in (loss_axes, metric_axes):
            axes.legend(fontsize="small")


def _save(figure: Any, path: str | Path) -> None:
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=100)
    write_atomic(path, buffer.getvalue())
