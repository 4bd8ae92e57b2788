"""``scratchgrad compare``: train one config on both engines side by side, step by step.

Both models start from the same weights (drawn by torch, copied into scratchgrad), see
the same batches, and have dropout switched off, so any difference in the losses comes
from the engines' arithmetic alone. A public parity check.
"""
from __future__ import annotations

import itertools
import math
from collections.abc import Iterator
from typing import Any

import numpy as np

from ..models import dropout_options
from .build import make_data, make_model, make_optimizer
from .config import ConfigError
from .engines import Engine, make_engine
from .step import train_step

DTYPES = ("float32", "float64")
_TINY = 1e-30


def compare(config: dict[str, Any], steps: int = 20, rtol: float = 1e-4, dtype: str = "float32",
            echo: Any = print) -> int:
    """Print each step's loss on both engines; 0 when every relative difference is <= ``rtol``, else 1.

    Args:
        config: a resolved config; its schedule is not applied (the optimizer keeps ``optim.lr``).
        steps: training steps to compare.
        rtol: the largest relative loss difference that counts as agreement.
        dtype: "float32", or "float64" to tell engine differences from float32 drift.
    """
    if steps < 1:
        raise ConfigError(f"--steps: expected an int >= 1, got {steps}")
    if not (math.isfinite(rtol) and rtol >= 0):  # with NaN nothing agrees, with inf everything does
        raise ConfigError(f"--rtol: expected a finite number >= 0, got {rtol}")
    if dtype not in DTYPES:
        raise ConfigError(f"--dtype: expected one of {', '.join(DTYPES)}, got {dtype!r}")
    dropouts = dropout_options(config["model"]["name"])
    model_config = {key: 0.0 if key in dropouts else value for key, value in config["model"].items()}
    config = {**config, "model": model_config}
    data = make_data(config, prefetch=0)
    engines = [make_engine("torch", config["device"]), make_engine("scratch", config["device"])]
    engines[0].manual_seed(config["seed"])
    models = [make_model(config, engine, data.shape) for engine in engines]
    models[1].load_state_dict(engines[1].restore(engines[0].export(models[0].state_dict())))
    if dtype == "float64":
        models = [model.double() for model in models]
    optimizers = [make_optimizer(config, engine, model.parameters()) for engine, model in zip(engines, models)]

    echo(f"{config['model']['name']} {model_config} on {config['data']['dataset']}, batch {config['batch_size']}, "
         f"{config['optim']['name']} lr {config['optim']['lr']:g}, dropout off, {dtype}")
    echo(f"{'step':>4}  {'loss torch':>12}  {'loss scratch':>12}  {'rel. diff':>9}  largest gradient difference")
    worst = 0.0
    for step, (images, labels) in enumerate(itertools.islice(_batches(data.train), steps), start=1):
        images = images.astype(dtype, copy=False)
        results = [_step(engine, model, optimizer, images, labels)
                   for engine, model, optimizer in zip(engines, models, optimizers)]
        (loss_t, grads_t), (loss_s, grads_s) = results
        difference = abs(loss_t - loss_s) / max(abs(loss_t), _TINY)
        worst = max(worst, difference)
        layer = max(grads_t, key=lambda name: _gap(grads_t[name], grads_s[name]))
        gap, scale = _gap(grads_t[layer], grads_s[layer]), float(np.abs(grads_t[layer]).max())
        echo(f"{step:>4}  {loss_t:>12.8f}  {loss_s:>12.8f}  {difference:>9.2e}  "
             f"{gap:.2e} in {layer} (largest |grad| there {scale:.2e})")
    verdict = "agree" if worst <= rtol else "DISAGREE"
    echo(f"largest relative loss difference over {steps} steps: {worst:.2e} (tolerance {rtol:g}): engines {verdict}")
    if worst > rtol and dtype == "float32":
        echo("note: in float32, windows of equal values (an image's flat background) tie in max-pooling; the "
             "engines' convolutions round them differently, so the gradient picks another position and Adam "
             "amplifies it; --dtype float64 shows the engines' own agreement")
    return 0 if worst <= rtol else 1


def _step(engine: Engine, model: Any, optimizer: Any, images: np.ndarray,
          labels: np.ndarray) -> tuple[float, dict[str, np.ndarray]]:
    """One training step; (loss, each parameter's gradient before the update)."""
    grads: dict[str, np.ndarray] = {}

    def read_gradients() -> None:
        grads.update({name: engine.numpy(p.grad) for name, p in model.named_parameters() if p.grad is not None})

    loss, _ = train_step(model, optimizer, engine.cross_entropy, engine.tensor(images), engine.tensor(labels),
                         before_update=read_gradients)
    return float(loss.item()), grads


def _gap(expected: np.ndarray, actual: np.ndarray) -> float:
    """max |expected - actual|."""
    return float(np.abs(expected - actual).max())


def _batches(loader: Any) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """The loader's batches, epoch after epoch."""
    for epoch in itertools.count():
        loader.set_epoch(epoch)
        yield from loader
