"""From a resolved config to the objects of a run: loaders, model, optimizer, scheduler.

Used by the training loop and by ``compare``, so both engines get the same pieces.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..data import DataLoader, load_dataset, subset, transforms
from ..models import build_model
from .config import ConfigError
from .engines import Engine

SAMPLE_DATASETS = {"mnist-sample": "mnist"}  # datasets that take another one's augmentation and statistics


@dataclass
class Data:
    """The loaders of a run and the input shape the model must take."""

    train: DataLoader
    test: DataLoader
    shape: dict[str, int]  # in_channels, input_size, num_classes


def make_data(config: dict[str, Any], prefetch: int = 2) -> Data:
    """Train and test loaders as ``config`` describes them (the test split is never augmented)."""
    data = config["data"]
    name, root = data["dataset"], data["root"] or None
    train_set, test_set = load_dataset(name, train=True, root=root), load_dataset(name, train=False, root=root)
    train_set = _subset(train_set, data["subset"], "data.subset")
    test_set = _subset(test_set, data["test_subset"], "data.test_subset")
    preset = config["augment"]["preset"]
    family = SAMPLE_DATASETS.get(name, name)
    train_transform = transforms.study_preset(family, jitter=preset == "study+jitter", train=preset != "none")
    test_transform = transforms.study_preset(family, train=False)
    seed = config["seed"]
    _, channels, height, width = train_set.images.shape
    if height != width:
        raise ConfigError(f"data.dataset = {name!r}: the models take square images, got {height}x{width}")
    return Data(
        train=DataLoader(train_set, config["batch_size"], shuffle=True, transform=train_transform, seed=seed,
                         prefetch=prefetch),
        test=DataLoader(test_set, config["eval_batch_size"], transform=test_transform, seed=seed, prefetch=prefetch),
        shape={"in_channels": channels, "input_size": height, "num_classes": len(train_set.classes)},
    )


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
    except ValueError as error:  # e.g. an input too small for the model's poolings
        raise ConfigError(f"model on {config['data']['dataset']} {shape}: {error}") from None
    return model.to(engine.device)


def make_optimizer(config: dict[str, Any], engine: Engine, parameters: Any) -> Any:
    optim = config["optim"]
    if optim["name"] == "sgd":
        return engine.optim.SGD(parameters, lr=optim["lr"], momentum=optim["momentum"],
                                weight_decay=optim["weight_decay"], nesterov=optim["nesterov"])
    kind = {"adam": engine.optim.Adam, "adamw": engine.optim.AdamW}[optim["name"]]
    return kind(parameters, lr=optim["lr"], betas=tuple(optim["betas"]), eps=optim["eps"],
                weight_decay=optim["weight_decay"])


def make_scheduler(config: dict[str, Any], engine: Engine, optimizer: Any, steps_per_epoch: int) -> tuple[Any, bool]:
    """(scheduler or None, whether it steps after every batch rather than every epoch)."""
    schedule, epochs = config["schedule"], config["epochs"]
    lr_scheduler = engine.optim.lr_scheduler
    name = schedule["name"]
    if name == "none":
        return None, False
    if name == "step":
        return lr_scheduler.StepLR(optimizer, schedule["step_size"], schedule["gamma"]), False
    if name == "multistep":
        return lr_scheduler.MultiStepLR(optimizer, schedule["milestones"], schedule["gamma"]), False
    if name == "cosine":
        return lr_scheduler.CosineAnnealingLR(optimizer, T_max=epochs, eta_min=schedule["eta_min"]), False
    max_lr = schedule["max_lr"] or 10 * config["optim"]["lr"]
    return lr_scheduler.OneCycleLR(optimizer, max_lr=max_lr, total_steps=epochs * steps_per_epoch), True
