"""``scratchgrad evaluate``: a run's (or a weights file's) accuracy, loss, confusion matrix and per-class accuracy.

The model is evaluated as the trainer evaluates it after each epoch (eval mode, no_grad,
the test transform, the same batches), so a run's ``best.safetensors`` gives the test
accuracy of its best epoch in metrics.csv.
"""
from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from .build import make_data, make_model
from .config import ConfigError, load_config
from .engines import make_engine
from .rundir import BEST, CONFIG, LAST
from .schema import typed
from .trainer import _read_weights

SPLITS = ("test", "val")


@dataclass
class Evaluation:
    """What ``evaluate`` measured; ``confusion[i][j]`` counts images of class i predicted as j."""

    weights: str
    split: str
    images: int
    loss: float
    accuracy: float
    classes: list[str]
    per_class_accuracy: list[float]  # nan for a class without images
    confusion: list[list[int]]


def resolve_target(target: str | Path, config_file: str | Path | None = None,
                   overrides: list[str] | tuple[str, ...] = (), checkpoint: str = BEST) -> tuple[dict[str, Any], Path]:
    """(config, weights file) of ``target``: a run directory (its ``checkpoint``), or a weights file.

    A weights file takes its config from ``config_file``, else from the run directory it lies in.
    ``config_file``, when given, replaces a run's config; ``overrides`` (``key=value``) apply last.
    """
    target = Path(target)
    if target.is_dir():
        if not (target / CONFIG).is_file():
            raise ConfigError(f"{target}: not a run directory (no {CONFIG}); expected a run or a weights file")
        weights = target / checkpoint
        if not weights.is_file():
            weights = target / LAST  # a run without a best epoch yet
        if not weights.is_file():
            raise ConfigError(f"{target}: no {checkpoint} or {LAST}: the run has not finished an epoch")
        return load_config(config_file or target / CONFIG, overrides), weights
    if not target.is_file():
        raise ConfigError(f"{target}: no such run directory or weights file")
    if config_file is None:
        if not (target.parent / CONFIG).is_file():
            raise ConfigError(f"{target}: a weights file outside a run directory needs --config FILE (the config "
                              "that names its model and dataset)")
        config_file = target.parent / CONFIG
    return load_config(config_file, overrides), target


def evaluate(target: str | Path, split: str = "test", config_file: str | Path | None = None,
             overrides: list[str] | tuple[str, ...] = ()) -> Evaluation:
    """Evaluate ``target`` (see :func:`resolve_target`) on ``split`` ("test", or "val": ``data.val_split``)."""
    if split not in SPLITS:
        raise ConfigError(f"--split: expected one of {', '.join(SPLITS)}, got {split!r}")
    config, weights = resolve_target(target, config_file, overrides)
    cfg = typed(config)
    engine = make_engine(cfg.engine, cfg.device)
    data = make_data(config, prefetch=0)
    loader = data.test if split == "test" else data.val
    if loader is None:
        raise ConfigError("--split val: this config holds no validation split (data.val_split = 0)")
    model = make_model(config, engine, data.shape)
    try:
        model.load_state_dict(engine.restore(_read_weights(str(weights))))
    except (RuntimeError, ValueError, KeyError, TypeError) as error:
        lines = [line.strip() for line in str(error).splitlines() if line.strip()]
        more = f" (and {len(lines) - 2} more)" if len(lines) > 2 else ""
        raise ConfigError(f"{weights}: these weights do not fit model {cfg.model.name} of this config: "
                          f"{' '.join(lines[:2])}{more}") from None
    classes = list(loader.dataset.classes)
    confusion = np.zeros((len(classes), len(classes)), dtype=np.int64)
    loss_sum = 0.0
    model.eval()
    loader.set_epoch(0)
    with engine.no_grad():
        for images, labels in loader:
            logits = model(engine.tensor(images))
            loss_sum += float(engine.cross_entropy(logits, engine.tensor(labels)).item()) * len(labels)
            np.add.at(confusion, (labels, engine.numpy(logits).argmax(1)), 1)
    seen = confusion.sum(1)
    with np.errstate(invalid="ignore", divide="ignore"):
        per_class = np.diag(confusion) / seen
    total = int(seen.sum())
    return Evaluation(str(weights), split, total, loss_sum / total, float(np.trace(confusion)) / total, classes,
                      [float(value) for value in per_class], confusion.tolist())


def table(result: Evaluation) -> str:
    """The evaluation as text: the totals, then one row per class with its accuracy and its confusion row."""
    header = f"{result.weights} on {result.split} ({result.images} images): loss {result.loss:.4f}, " \
             f"accuracy {100 * result.accuracy:.2f}%"
    width = max(5, *(len(name) for name in result.classes))
    count = max(6, len(str(max(max(row) for row in result.confusion))))
    predicted = " ".join(f"{index:>{count}}" for index in range(len(result.classes)))
    lines = [header, "", f"{'class':<{width + 4}}  {'images':>6}  {'accuracy':>8}  predicted as (by class index):",
             f"{'':<{width + 4}}  {'':>6}  {'':>8}  {predicted}"]
    for index, (name, accuracy, row) in enumerate(zip(result.classes, result.per_class_accuracy, result.confusion)):
        shown = "–" if np.isnan(accuracy) else f"{100 * accuracy:.2f}%"
        cells = " ".join(f"{value:>{count}}" for value in row)
        lines.append(f"{index:>2}  {name:<{width}}  {sum(row):>6}  {shown:>8}  {cells}")
    return "\n".join(lines)


def write_json(result: Evaluation, path: str | Path) -> None:
    """``result`` as JSON (NaN per-class accuracies as null)."""
    values = asdict(result)
    values["per_class_accuracy"] = [None if np.isnan(v) else v for v in values["per_class_accuracy"]]
    Path(path).write_text(json.dumps(values, indent=2) + "\n")
