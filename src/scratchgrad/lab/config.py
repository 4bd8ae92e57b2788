"""Run configs: defaults, then a TOML file, then ``--set key=value`` overrides.

A config is a dict of top-level keys (``epochs``, ``batch_size``, ``seed``, ``engine``,
``device``, ...) and tables (``[data]``, ``[model]``, ``[optim]``, ``[schedule]``,
``[augment]``). The ``[model]`` table holds ``name`` and the options of that model
(:func:`scratchgrad.models.model_specs`: their defaults, help and bounds), so which keys
it accepts depends on the model; a ``--set model.name=...`` that switches model starts the
``[model]`` table afresh, from the new model's defaults and the ``--set model.*`` keys given
with it. Every key is checked: an unknown key names the closest valid ones, a value of
the wrong type or outside its choices names what is allowed.
"""
from __future__ import annotations

import copy
import difflib
import math
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..data import DATASET_NAMES
from ..data.transforms import AUGMENT_PRESETS
from ..models import MODEL_NAMES, USER_MODEL_FORM, model_options, model_specs

ENGINES = ("scratch", "torch")
DEVICES = ("cpu", "cuda")
OPTIMIZERS = ("sgd", "adam", "adamw")
SCHEDULES = ("none", "step", "multistep", "cosine", "onecycle")


class ConfigError(ValueError):
    """A config that cannot be used; the message says where, what and what is allowed."""


@dataclass(frozen=True)
class Key:
    """One config key: its default (which also fixes its type) and what values it allows."""

    default: Any
    help: str = ""
    choices: tuple[str, ...] | None = None
    minimum: float | None = None  # inclusive
    below: float | None = None  # exclusive upper bound
    maximum: float | None = None  # inclusive upper bound
    positive: bool = False
    item: type | None = None  # element type of a list
    length: int | None = None  # of a list

    def check(self, name: str, value: Any) -> Any:
        """``value`` converted to this key's type; a ConfigError names what is allowed."""
        value = _typed(name, value, self.default, self.item)
        if self.length is not None and len(value) != self.length:
            raise ConfigError(f"{name} = {value!r} has {len(value)} items; expected {self.length}")
        if self.choices is not None and value not in self.choices:
            raise ConfigError(f"{name} = {value!r} is not allowed; expected one of {', '.join(self.choices)}")
        for number in value if isinstance(value, list) else [value]:
            self._check_range(name, number)
        return value

    def _check_range(self, name: str, number: Any) -> None:
        if isinstance(number, bool) or not isinstance(number, (int, float)):
            return
        if (self.minimum is not None and number < self.minimum) or (self.positive and not number > 0) \
                or (self.below is not None and not number < self.below) \
                or (self.maximum is not None and number > self.maximum):
            bounds = [f">= {self.minimum}"] if self.minimum is not None else []
            bounds += ["> 0"] if self.positive else []
            bounds += [f"< {self.below}"] if self.below is not None else []
            bounds += [f"<= {self.maximum}"] if self.maximum is not None else []
            raise ConfigError(f"{name} = {number!r} is out of range; expected a value {' and '.join(bounds)}")


# [model] is filled in per model by model_schema(); its place here fixes the order of tables.
SCHEMA: dict[str, Any] = {
    "name": Key("", "run name (report rows, run folder); default: the config file's name"),
    "epochs": Key(10, "epochs to train", minimum=1),
    "batch_size": Key(64, "training batch size", minimum=1),
    "eval_batch_size": Key(500, "batch size of test-set evaluation", minimum=1),
    "seed": Key(0, "seeds weights, dropout, data order and augmentation", minimum=0),
    "engine": Key("scratch", "scratch: scratchgrad; torch: PyTorch, the same model and loop", choices=ENGINES),
    "device": Key("cpu", "cuda: the GPU (CuPy for scratch, a CUDA build for torch)", choices=DEVICES),
    "weights": Key("", "safetensors file of initial model weights; '' for random initialisation"),
    "threads": Key(0, "CPU threads the engine computes on (set_num_threads); 0: all the cores the process may use "
                      "(in `sweep --jobs N`: cores // N each)", minimum=0),
    "data": {
        "dataset": Key("mnist-sample", "npz, folder: your own images, in the .npz file or the folder data.root "
                                       "(see README)", choices=DATASET_NAMES),
        "subset": Key(0, "train on a class-balanced subset of this many images; 0 for all", minimum=0),
        "test_subset": Key(0, "evaluate on a class-balanced subset of the test split; 0 for all", minimum=0),
        "val_split": Key(0, "images held out of the training set (drawn with the seed) on which the best epoch "
                            "is chosen; 0: none, the best epoch is then chosen on the test set, as the study did",
                         minimum=0),
        "root": Key("", "folder holding the dataset files ('' for the usual places); npz: the .npz file"),
    },
    "model": {},
    "optim": {
        "name": Key("adam", "the optimizer", choices=OPTIMIZERS),
        "lr": Key(3e-4, "learning rate", positive=True),
        "weight_decay": Key(1e-6, "L2 penalty (adamw: decoupled weight decay)", minimum=0),
        "momentum": Key(0.9, "sgd only", minimum=0),
        "nesterov": Key(False, "sgd only"),
        "betas": Key([0.9, 0.999], "adam and adamw only", minimum=0, below=1, item=float, length=2),
        "eps": Key(1e-8, "adam and adamw only", positive=True),
    },
    "schedule": {
        "name": Key("none", "learning-rate schedule", choices=SCHEDULES),
        "step_size": Key(30, "step: epochs between decays", minimum=1),
        "gamma": Key(0.1, "step, multistep: decay factor", positive=True),
        "milestones": Key([], "multistep: epochs at which to decay", minimum=1, item=int),
        "eta_min": Key(0.0, "cosine: final learning rate", minimum=0),
        "max_lr": Key(0.0, "onecycle: peak learning rate; 0 for 10 x optim.lr", minimum=0),
        "total_epochs": Key(0, "cosine, onecycle: epochs the schedule spans (>= epochs, so that --resume "
                               "--set epochs=N can extend a run up to it); 0: the run's epochs", minimum=0),
    },
    "augment": {
        "preset": Key("none", "training augmentation: the study's (study, study+jitter) or pad-crop-flip "
                              "(crop+flip); normalisation always applies", choices=AUGMENT_PRESETS),
    },
}


def default_config() -> dict[str, Any]:
    """Every key at its default."""
    return _defaults(dict(SCHEMA, model=model_schema("c5l3")))


def load_config(path: str | Path | None = None, overrides: list[str] | tuple[str, ...] = ()) -> dict[str, Any]:
    """Defaults, updated by the TOML file at ``path``, then by ``overrides``.

    Args:
        path: a TOML config file, or None for the defaults alone.
        overrides: ``"key=value"`` strings; dotted keys address tables
            (``"optim.lr=0.01"``); values are TOML (``true``, ``[1, 2]``, ``"text"``),
            and a bare word is a string (``engine=torch``).

    Returns:
        the resolved config: every key present, every value checked. ``name`` is the
        file's stem when the file does not set one.
    """
    raw: dict[str, Any] = {}
    if path is not None:
        raw = read_toml(path)
        raw.pop("run", None)  # what a run directory's config.toml records about the run
        resolve(raw, f"config {path}")
    parsed = [(text, *parse_override(text)) for text in overrides]
    names = [value for _, keys, value in parsed if keys == ["model", "name"]]
    model = raw.get("model")
    if names and isinstance(model, dict) and names[-1] != model.get("name", "c5l3"):
        raw["model"] = {}  # another model: the file's options were the old model's
    for text, keys, value in parsed:
        _set(raw, keys, value, f"--set {text}")
        resolve(raw, f"--set {text}")
    config = resolve(raw, "config")
    if not config["name"]:
        config["name"] = Path(path).stem if path is not None else "run"
    return config


def read_toml(path: str | Path) -> dict[str, Any]:
    try:
        with open(path, "rb") as stream:
            return tomllib.load(stream)
    except FileNotFoundError:
        raise ConfigError(f"config {path}: no such file") from None
    except IsADirectoryError:
        raise ConfigError(f"config {path}: is a directory; expected a TOML file (see experiments/)") from None
    except OSError as error:
        raise ConfigError(f"config {path}: cannot be read ({error.strerror})") from None
    except UnicodeDecodeError:
        raise ConfigError(f"config {path}: not a text file (not UTF-8); expected a TOML file") from None
    except tomllib.TOMLDecodeError as error:
        raise ConfigError(f"config {path}: not valid TOML: {error}") from None


def parse_override(text: str) -> tuple[list[str], Any]:
    """``"optim.lr=0.01"`` -> (["optim", "lr"], 0.01)."""
    key, sep, value = text.partition("=")
    keys = key.strip().split(".")
    if not sep or not all(keys):
        raise ConfigError(f"--set {text!r}: expected key=value, e.g. optim.lr=0.01")
    try:
        return keys, tomllib.loads(f"value = {value.strip()}")["value"]
    except tomllib.TOMLDecodeError:
        return keys, value.strip()  # a bare word such as torch or mnist-sample


def resolve(raw: dict[str, Any], source: str) -> dict[str, Any]:
    """``raw`` checked against the schema and completed with defaults; ConfigError names ``source``."""
    model = raw.get("model")
    name = model.get("name") if isinstance(model, dict) else None
    try:
        schema = dict(SCHEMA, model=model_schema(name if _is_model_name(name) else "c5l3"))
    except ValueError as error:  # a user's model that cannot be imported or read
        raise ConfigError(f"{source}: model.name = {name!r}: {error}") from None
    config = _defaults(schema)
    try:
        _merge(config, raw, schema, [], valid_keys(schema))
    except ConfigError as error:
        raise ConfigError(f"{source}: {error}") from None
    _size_schedule(config, source)
    return config


def _size_schedule(config: dict[str, Any], source: str) -> None:
    """Make the schedule's length explicit (``schedule.total_epochs``); cosine and onecycle end there."""
    schedule = config["schedule"]
    schedule["total_epochs"] = schedule["total_epochs"] or config["epochs"]
    if schedule["name"] in ("cosine", "onecycle") and config["epochs"] > schedule["total_epochs"]:
        raise ConfigError(
            f"{source}: epochs = {config['epochs']} goes past schedule.total_epochs = {schedule['total_epochs']}, "
            f"where the {schedule['name']} schedule ends. Stretching it would change the learning rates of epochs "
            f"already trained, so a run cannot be extended past it: start a new run with epochs = "
            f"{config['epochs']} (set schedule.total_epochs ahead to extend it later), or start from this run's "
            f"weights with --set weights=RUN_DIR/last.safetensors")


def model_schema(name: str) -> dict[str, Key]:
    """The keys of the ``[model]`` table for model ``name``: defaults, help and bounds from its option specs.

    Raises:
        ValueError: ``name`` is a user's model that cannot be imported, or whose options a config cannot hold.
    """
    options = {key: Key(spec.default, spec.help, **spec.bounds()) for key, spec in model_specs(name).items()}
    users = (name,) if name not in MODEL_NAMES else ()  # a user's model, checked by importing it
    return {"name": Key("c5l3", f"one of the zoo's models or a {USER_MODEL_FORM} of your own",
                        choices=(*MODEL_NAMES, *users)), **options}


def _is_model_name(name: Any) -> bool:
    """A zoo model, or something spelled like a user's (then imported to be checked)."""
    return name in MODEL_NAMES or (isinstance(name, str) and ":" in name)


def valid_keys(schema: dict[str, Any] | None = None, prefix: str = "") -> list[str]:
    """Every dotted key name of ``schema`` (with the c5l3 model's keys by default)."""
    schema = schema or dict(SCHEMA, model=model_schema("c5l3"))
    names = []
    for key, entry in schema.items():
        names += valid_keys(entry, f"{prefix}{key}.") if isinstance(entry, dict) else [prefix + key]
    return names


def _merge(config: dict[str, Any], raw: dict[str, Any], schema: dict[str, Any], path: list[str],
           everywhere: list[str]) -> None:
    for key, value in raw.items():
        name = ".".join(path + [key])
        if key not in schema:
            raise ConfigError(_unknown(name, schema, path, everywhere))
        entry = schema[key]
        if isinstance(entry, dict):
            if not isinstance(value, dict):
                raise ConfigError(f"{name} must be a table of keys ({', '.join(entry)}), got {value!r}")
            _merge(config[key], value, entry, path + [key], everywhere)
        else:
            config[key] = entry.check(name, value)


def _unknown(name: str, schema: dict[str, Any], path: list[str], everywhere: list[str]) -> str:
    prefix = "".join(part + "." for part in path)
    here = [prefix + key + (".*" if isinstance(entry, dict) else "") for key, entry in schema.items()]
    message = f"unknown key {name!r}; {_suggest(name, everywhere)}valid {f'[{path[0]}] ' if path else ''}keys: {', '.join(here)}"
    owners = [model for model in MODEL_NAMES if path == ["model"] and name[6:] in model_options(model)]
    return message + (f" ({name} is an option of {', '.join(owners)} only)" if owners else "")


def _suggest(name: str, everywhere: list[str]) -> str:
    """'did you mean ...? ' with the keys of ``everywhere`` closest to ``name``, whole or by last part."""
    leaf = name.rsplit(".", 1)[-1]
    close_leaves = difflib.get_close_matches(leaf, [key.rsplit(".", 1)[-1] for key in everywhere], cutoff=0.75)
    close = difflib.get_close_matches(name, everywhere, n=3, cutoff=0.6)
    close += [key for key in everywhere if key.rsplit(".", 1)[-1] in close_leaves and key not in close]
    return f"did you mean {' or '.join(close[:3])}? " if close else ""


def _typed(name: str, value: Any, default: Any, item: type | None) -> Any:
    kind = type(default)
    if isinstance(default, list):
        if not isinstance(value, list) or not all(_is(v, item) for v in value):
            raise ConfigError(f"{name} = {value!r} has the wrong type; expected a list of {item.__name__}")
        return [item(v) for v in value]
    if not _is(value, kind):
        raise ConfigError(f"{name} = {value!r} has the wrong type; expected {_kind_name(kind)}")
    if kind is float and not math.isfinite(value):
        raise ConfigError(f"{name} = {value!r} is not allowed; expected a finite number")
    if kind is str and not _is_utf8(value):  # e.g. bytes of another encoding on the command line
        raise ConfigError(f"{name} = {value!r} is not valid text; expected characters that UTF-8 can encode")
    return kind(value)


def _is_utf8(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:  # lone surrogates, as Python decodes undecodable argv bytes
        return False
    return True


def _is(value: Any, kind: type | None) -> bool:
    if kind is float:
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if kind is int:
        return isinstance(value, int) and not isinstance(value, bool)
    return isinstance(value, kind)


def _kind_name(kind: type) -> str:
    return {bool: "true or false", int: "an integer", float: "a number", str: "a string"}.get(kind, kind.__name__)


def _set(raw: dict[str, Any], keys: list[str], value: Any, source: str) -> None:
    node = raw
    for depth, key in enumerate(keys[:-1]):
        child = node.setdefault(key, {})
        if not isinstance(child, dict):
            raise ConfigError(f"{source}: {'.'.join(keys[:depth + 1])} is a value, not a table")
        node = child
    node[keys[-1]] = value


def _defaults(schema: dict[str, Any]) -> dict[str, Any]:
    return {key: _defaults(entry) if isinstance(entry, dict) else copy.deepcopy(entry.default)
            for key, entry in schema.items()}


def dump_toml(config: dict[str, Any]) -> str:
    """``config`` as TOML: top-level values first, then one ``[table]`` per nested dict.

    Handles what configs hold: strings, bools, ints, finite floats, lists of those, and
    one level of tables.
    """
    lines = [f"{key} = {_toml_value(value)}" for key, value in config.items() if not isinstance(value, dict)]
    for table, values in config.items():
        if isinstance(values, dict):
            lines += ["", f"[{table}]"] + [f"{key} = {_toml_value(value)}" for key, value in values.items()]
    return "\n".join(lines) + "\n"


# TOML basic strings: a backslash, a quote and the control characters must be escaped (tab may stay; escaped too).
_TOML_ESCAPES = {**{chr(code): f"\\u{code:04x}" for code in (*range(0x20), 0x7F)},
                 "\\": "\\\\", '"': '\\"', "\n": "\\n", "\t": "\\t", "\r": "\\r"}


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)  # repr round-trips floats exactly
    if isinstance(value, str):
        return '"' + "".join(_TOML_ESCAPES.get(char, char) for char in value) + '"'
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_toml_value(item) for item in value) + "]"
    raise TypeError(f"dump_toml: cannot write a {type(value).__name__} ({value!r})")
