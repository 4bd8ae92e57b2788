"""A figure of original images beside augmented versions of them (the study's Figures 1 and 8)."""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from .dataset import ImageDataset
from .registry import load_dataset
from .transforms import AUGMENT_PRESETS, augment_preset

PRESETS = tuple(name for name in AUGMENT_PRESETS if name != "none")


def augment_preview(dataset: str, output: str | os.PathLike, preset: str = "study",
                    root: str | os.PathLike | None = None, rows: int = 6, versions: int = 5,
                    seed: int = 0) -> Path:
    """Save a PNG grid: one image per class in each row, then ``versions`` augmentations.

    Args:
        dataset: a name from ``scratchgrad.data.DATASET_NAMES``.
        preset: one of ``PRESETS`` (``scratchgrad.data.transforms.augment_preset``).
        rows: how many images (of different classes) to show, at most 10.

    Returns:
        The path written.
    """
    if preset not in PRESETS:
        raise ValueError(f"preset: expected one of {PRESETS}, got {preset!r}")
    data = load_dataset(dataset, train=True, root=root)
    originals, labels = _one_per_class(data, rows)
    study_name = "mnist" if dataset == "mnist-sample" else dataset
    augment = augment_preset(preset, study_name, originals.shape[-1], normalize=False)
    rng = np.random.default_rng(seed)
    columns = [originals] + [augment(originals, rng) for _ in range(versions)]
    return _save_grid(columns, [data.classes[label] for label in labels], output,
                      title=f"{dataset}: originals and '{preset}' augmentations")


def _one_per_class(data: ImageDataset, rows: int) -> tuple[np.ndarray, np.ndarray]:
    """The first image (and label) of each of the first ``rows`` classes."""
    picks = [int(np.flatnonzero(data.labels == label)[0]) for label in np.unique(data.labels)[:rows]]
    return data.images[picks], data.labels[picks]


def _save_grid(columns: list[np.ndarray], row_names: list[str], output, title: str) -> Path:
    """Draw column j, row i as ``columns[j][i]`` (uint8 (C, H, W)) and save as PNG."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg  # only the preview needs it
    from matplotlib.figure import Figure

    rows = len(columns[0])
    figure = Figure(figsize=(1.2 * len(columns), 1.2 * rows + 0.4), dpi=100, layout="constrained")
    FigureCanvasAgg(figure)
    axes = figure.subplots(rows, len(columns), squeeze=False)
    for col, images in enumerate(columns):
        for row in range(rows):
            image = np.asarray(images[row]).transpose(1, 2, 0)
            ax = axes[row, col]
            ax.imshow(image[..., 0] if image.shape[2] == 1 else image,
                      cmap="gray", vmin=0, vmax=255, interpolation="nearest")
            ax.set_xticks([])
            ax.set_yticks([])
            if row == 0:
                ax.set_title("original" if col == 0 else f"augmented {col}", fontsize=8)
            if col == 0:
                ax.set_ylabel(row_names[row], fontsize=7)
    figure.suptitle(title, fontsize=9)
    path = Path(output)
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, format="png")
    return path
