"""``scratchgrad export``: a run's weights as a PyTorch state dict.

The zoo builds the same state-dict keys on both engines, so the file loads into the torch
model of the run's config:

    state = torch.load("model.pt", weights_only=True)
    model = build_model(name, torch.nn, **options, in_channels=C, num_classes=K, input_size=S)
    model.load_state_dict(state)

The way back needs no command: save a torch model's ``state_dict()`` as safetensors
(``safetensors.torch.save_file``) and start a run from it with ``--set weights=FILE``, or
evaluate it with ``scratchgrad evaluate FILE --config CONFIG``.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from .config import ConfigError
from .evaluate import resolve_target
from .rundir import BEST
from .trainer import _read_weights

FORMATS = ("torch",)


def export(target: str | Path, to: str = "torch", output: str | Path | None = None,
           checkpoint: str = BEST) -> tuple[Path, dict[str, Any]]:
    """Write the weights of ``target`` (a run directory or a weights file in one) as ``to``'s format.

    Args:
        target: a run directory (its ``checkpoint``, best.safetensors by default) or a weights file.
        to: "torch": a ``.pt`` file of ``torch.save`` that ``torch.load(..., weights_only=True)`` reads.
        output: the file to write; default ``model.pt`` beside the weights.

    Returns:
        (the file written, the run's config).
    """
    if to not in FORMATS:
        raise ConfigError(f"--to: expected one of {', '.join(FORMATS)}, got {to!r}")
    try:
        import torch
    except ImportError:
        raise ConfigError("export --to torch needs PyTorch: pip install 'scratchgrad[torch]'") from None
    config, weights = resolve_target(target, checkpoint=checkpoint)
    arrays = _read_weights(str(weights))
    state = {name: torch.from_numpy(np.ascontiguousarray(_array(value))) for name, value in arrays.items()}
    output = Path(output) if output is not None else weights.with_name("model.pt")
    torch.save(state, output)
    return output, config


def how_to_load(path: Path, config: dict[str, Any]) -> str:
    """The lines that load ``path`` into the config's torch model."""
    model = dict(config["model"])
    name = model.pop("name")
    options = "".join(f", {key}={value!r}" for key, value in model.items())
    return (f"state = torch.load({str(path)!r}, weights_only=True)\n"
            f"model = build_model({name!r}, torch.nn{options}, in_channels=C, num_classes=K, input_size=S)"
            f"  # {config['data']['dataset']}'s shape\n"
            "model.load_state_dict(state)")


def _array(value: Any) -> np.ndarray:
    return value.numpy() if hasattr(value, "numpy") else np.asarray(value)
