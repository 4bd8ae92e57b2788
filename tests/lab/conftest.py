"""Tiny run configs: a few batches of the shipped MNIST sample, so that a whole run takes seconds."""
from __future__ import annotations

from pathlib import Path

import pytest

from scratchgrad.lab.config import dump_toml

TINY = {
    "epochs": 1,
    "batch_size": 32,
    "eval_batch_size": 50,
    "data": {"dataset": "mnist-sample", "subset": 128, "test_subset": 100},
    "model": {"name": "c5l3", "width": 0.125, "batchnorm": True, "fc_dropout": 0.3},
    "optim": {"name": "adam", "lr": 2e-3},
}


def tiny_config(folder: Path, name: str = "tiny", **tables: dict) -> Path:
    """Write TINY, updated table by table (``model={"conv_dropout": 0.2}``, ``top={"epochs": 2}``), as NAME.toml."""
    config = {key: dict(value) if isinstance(value, dict) else value for key, value in TINY.items()}
    for table, values in tables.items():
        if table == "top":
            config.update(values)
        elif table == "model" and "name" in values:  # another model: its own options only
            config["model"] = dict(values)
        else:
            config.setdefault(table, {}).update(values)
    path = folder / f"{name}.toml"
    path.write_text(dump_toml(config))
    return path


@pytest.fixture
def make_config(tmp_path: Path):
    return lambda name="tiny", **tables: tiny_config(tmp_path, name, **tables)
