"""From a resolved config to the objects of a run: loaders, model, optimizer, scheduler.

Used by the training loop and by ``compare``, so both engines get the same pieces.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from ..data import DataLoader, Subset, load_dataset, subset, transforms
from ..data.custom import DataFormatError
from ..data.registry import augment_family
from ..models import build_model
from .config import ConfigError
from .engines import Engine
from .schema import typed

VAL_STREAM = 0x7A1  # with the seed, picks the validation split; apart from the loaders' streams


@dataclass
class Data:
    """The loaders of a run and the input shape the model must take (``val`` is None without a split)."""

    train: DataLoader
    val: DataLoader | None
    test: DataLoader
    shape: dict[str, int]  # in_channels, input_size, num_classes


def make_data(config: dict[str, Any], prefetch: int = 2) -> Data:
    """Train, validation and test loaders as ``config`` describes them (only training batches are augmented)."""
    cfg = typed(config)
    data = cfg.data
    train_set, test_set = load_splits(data.dataset, data.root)
    train_set = _subset(train_set, data.subset, "data.subset")
    test_set = _subset(test_set, data.test_subset, "data.test_subset")
    train_set, val_set = hold_out(train_set, data.val_split, cfg.seed)
    _, channels, height, width = train_set.images.shape
    if height != width:
        raise ConfigError(f"data.dataset = {data.dataset!r}: the models take square images, got {height}x{width}")
    try:
        family = augment_family(data.dataset, channels)
    except ValueError as error:
        raise ConfigError(str(error)) from None
    preset = cfg.augment.preset
    train_transform = transforms.augment_preset(preset, family, height)
    test_transform = transforms.augment_preset(preset, family, height, train=False)
    seed, eval_batch = cfg.seed, cfg.eval_batch_size
    return Data(
        train=DataLoader(train_set, cfg.batch_size, shuffle=True, transform=train_transform, seed=seed,
                         prefetch=prefetch),
        val=None if val_set is None else DataLoader(val_set, eval_batch, transform=test_transform, seed=seed,
                                                    prefetch=prefetch),
        test=DataLoader(test_set, eval_batch, transform=test_transform, seed=seed, prefetch=prefetch),
        shape={"in_channels": channels, "input_size": height, "num_classes": len(train_set.classes)},
    )


def load_splits(name: str, root: str) -> tuple[Any, Any]:
    """(train, test) of dataset ``name`` (``root`` '' for the usual places); a user's malformed files give a ConfigError."""
    try:
        return load_dataset(name, train=True, root=root or None), load_dataset(name, train=False, root=root or None)
    except DataFormatError as error:
        raise ConfigError(f"data.dataset = {name!r}: {error}") from None


def hold_out(dataset: Any, n: int, seed: int) -> tuple[Any, Subset | None]:
    """(the rest of ``dataset``, ``n`` of its samples drawn with ``seed``), each in dataset order.

    The split depends only on ``(seed, len(dataset))``, so both engines and a resumed run hold
    out the same images. ``n = 0`` gives ``(dataset, None)``.
    """
    if n == 0:
        return dataset, None
    if n >= len(dataset):
        raise ConfigError(f"data.val_split = {n}: expected fewer than the {len(dataset)} training images")
    order = np.random.default_rng([seed, VAL_STREAM]).permutation(len(dataset))
    return Subset(dataset, np.sort(order[n:])), Subset(dataset, np.sort(order[:n]))


def _subset(dataset: Any, n: int, key: str) -> Any:
    if n == 0:
        return dataset
    try:
        return subset(dataset, n, "balanced")
    except ValueError as error:
        raise ConfigError(f"{key} = {n}: {error}") from None


def make_model(config: dict[str, Any], engine: Engine, shape: dict[str, int]) -> Any:
    """The config's model on ``engine``, on its device (weights drawn from the engine's generator)."""
    options = {key: value for key, value in config["model"].items() if key != "name"}
    try:
        model = build_model(config["model"]["name"], engine.nn, **options, **shape)
    except (ValueError, TypeError) as error:  # e.g. an input too small for the model's poolings
        raise ConfigError(f"model {config['model']['name']} on {config['data']['dataset']} {shape}: {error}") from None
    return model.to(engine.device)


def make_optimizer(config: dict[str, Any], engine: Engine, parameters: Any) -> Any:
    optim = typed(config).optim
    if optim.name == "sgd":
        return engine.optim.SGD(parameters, lr=optim.lr, momentum=optim.momentum, weight_decay=optim.weight_decay,
                                nesterov=optim.nesterov)
    kind = {"adam": engine.optim.Adam, "adamw": engine.optim.AdamW}[optim.name]
    return kind(parameters, lr=optim.lr, betas=tuple(optim.betas), eps=optim.eps, weight_decay=optim.weight_decay)


def make_scheduler(config: dict[str, Any], engine: Engine, optimizer: Any, steps_per_epoch: int) -> tuple[Any, bool]:
    """(scheduler or None, whether it steps after every batch rather than every epoch).

    Cosine and onecycle span ``schedule.total_epochs`` (the run's epochs unless set), so a run
    resumed with more epochs, up to it, continues the schedule it started.
    """
    cfg = typed(config)
    schedule, epochs = cfg.schedule, cfg.schedule.total_epochs
    lr_scheduler = engine.optim.lr_scheduler
    if schedule.name == "none":
        return None, False
    if schedule.name == "step":
        return lr_scheduler.StepLR(optimizer, schedule.step_size, schedule.gamma), False
    if schedule.name == "multistep":
        return lr_scheduler.MultiStepLR(optimizer, schedule.milestones, schedule.gamma), False
    if schedule.name == "cosine":
        return lr_scheduler.CosineAnnealingLR(optimizer, T_max=epochs, eta_min=schedule.eta_min), False
    max_lr = schedule.max_lr or 10 * cfg.optim.lr
    return lr_scheduler.OneCycleLR(optimizer, max_lr=max_lr, total_steps=epochs * steps_per_epoch), True
