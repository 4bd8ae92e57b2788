"""Views of the one config schema (:mod:`.config`): typed configs and the ``config show`` table.

    cfg = typed(load_config("experiments/baseline.toml"))
    cfg.optim.lr, cfg.model.width, cfg.data.dataset

``typed`` gives frozen dataclasses generated from the schema (the ``[model]`` table from
the model's option specs), so the keys and their types are written once, in ``SCHEMA``.
"""
from __future__ import annotations

import dataclasses
import functools
import json
from pathlib import Path
from typing import Any

from .config import SCHEMA, Key, load_config, model_schema


def typed(config: dict[str, Any]) -> Any:
    """``config`` (a resolved config) as a frozen dataclass: ``cfg.optim.lr`` for ``config["optim"]["lr"]``."""
    return _instance(config_class(config["model"]["name"]), config)


@functools.cache
def config_class(model: str) -> type:
    """The dataclass of configs whose model is ``model``: one field per key, a nested dataclass per table."""
    return _dataclass("Config", dict(SCHEMA, model=model_schema(model)))


def _dataclass(name: str, schema: dict[str, Any]) -> type:
    fields = [(key, _dataclass(f"{key.capitalize()}Config", entry) if isinstance(entry, dict) else _annotation(entry))
              for key, entry in schema.items()]
    return dataclasses.make_dataclass(name, fields, frozen=True)


def _annotation(key: Key) -> Any:
    return list[key.item] if isinstance(key.default, list) else type(key.default)


def _instance(cls: type, values: dict[str, Any]) -> Any:
    kinds = {field.name: field.type for field in dataclasses.fields(cls)}
    return cls(**{key: _instance(kinds[key], value) if isinstance(value, dict) else value
                  for key, value in values.items() if key in kinds})


def show(path: str | Path | None = None, overrides: list[str] | tuple[str, ...] = ()) -> str:
    """The table ``scratchgrad config show`` prints: every key, its type, value, allowed values and help.

    The value is the file's (after ``overrides``) where it differs from the default, which
    is then given beside it.
    """
    config = load_config(path, overrides)
    schema = dict(SCHEMA, model=model_schema(config["model"]["name"]))
    rows = [["key", "type", "value", "allowed", "help"]]
    for name, key, value in _entries(schema, config):
        shown = _text(value) if value == key.default else f"{_text(value)} (default {_text(key.default)})"
        rows.append([name, _type_name(key), shown, allowed(key), key.help])
    widths = [max(len(row[column]) for row in rows) for column in range(4)]
    lines = ["  ".join(cell.ljust(width) for cell, width in zip(row, widths)) + "  " + row[4] for row in rows]
    source = f"config {path}" if path is not None else "defaults"
    return "\n".join([f"# {source}, model {config['model']['name']}", *(line.rstrip() for line in lines)])


def allowed(key: Key) -> str:
    """The values ``key`` allows, as a range or a list of choices ("" when any value of its type goes)."""
    if key.choices is not None:
        return " | ".join(key.choices)
    bounds = [f">= {key.minimum:g}"] if key.minimum is not None else []
    bounds += ["> 0"] if key.positive else []
    bounds += [f"< {key.below:g}"] if key.below is not None else []
    bounds += [f"<= {key.maximum:g}"] if key.maximum is not None else []
    return ", ".join(bounds)


def _entries(schema: dict[str, Any], config: dict[str, Any], prefix: str = "") -> list[tuple[str, Key, Any]]:
    entries = []
    for key, entry in schema.items():
        if isinstance(entry, dict):
            entries += _entries(entry, config[key], f"{prefix}{key}.")
        else:
            entries.append((prefix + key, entry, config[key]))
    return entries


def _type_name(key: Key) -> str:
    if isinstance(key.default, list):
        return f"list[{key.item.__name__}]" + (f" ({key.length} items)" if key.length else "")
    return type(key.default).__name__


def _text(value: Any) -> str:
    """``value`` as TOML writes it."""
    return json.dumps(value)
