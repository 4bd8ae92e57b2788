"""``scratchgrad config show``, typed configs from the one schema, and switching model with --set."""
from __future__ import annotations

import dataclasses

import pytest

from scratchgrad.lab.cli import main
from scratchgrad.lab.config import SCHEMA, ConfigError, load_config, valid_keys
from scratchgrad.lab.schema import config_class, typed
from scratchgrad.models import MODEL_NAMES, model_specs


def _rows(output: str) -> dict[str, str]:
    return {line.split()[0]: line for line in output.splitlines()[2:]}


def test_config_show_prints_every_key_with_type_value_range_and_help(make_config, capsys):
    path = make_config(data={"val_split": 16})
    assert main(["config", "show", str(path), "--set", "optim.lr=0.01"]) == 0
    output = capsys.readouterr().out
    rows = _rows(output)
    assert sorted(rows) == sorted(valid_keys())  # c5l3's [model] keys, every other key
    assert rows["optim.lr"].split()[1:4] == ["float", "0.01", "(default"] and "> 0" in rows["optim.lr"]
    assert "learning rate" in rows["optim.lr"]
    assert '"adam"' in rows["optim.name"] and "sgd | adam | adamw" in rows["optim.name"]
    assert "16 (default 0)" in rows["data.val_split"] and SCHEMA["data"]["val_split"].help in rows["data.val_split"]
    width = model_specs("c5l3")["width"]
    assert "0.125 (default 1.0)" in rows["model.width"] and "> 0, <= 4" in rows["model.width"]
    assert width.help in rows["model.width"] and model_specs("c5l3")["fc_dropout"].help in rows["model.fc_dropout"]
    assert "list[float] (2 items)" in rows["optim.betas"]


def test_config_show_without_a_file_shows_the_defaults_of_the_model_chosen(capsys):
    assert main(["config", "show", "--set", "model.name=resnet18"]) == 0
    rows = _rows(capsys.readouterr().out)
    assert [key for key in rows if key.startswith("model.")] == ["model.name", "model.width"]
    assert " ".join(MODEL_NAMES).replace(" ", " | ") in rows["model.name"]


def test_switching_model_starts_the_model_table_afresh(make_config):
    path = make_config()  # c5l3 with width, batchnorm and fc_dropout set
    assert load_config(path, ["model.name=resnet18"])["model"] == {"name": "resnet18", "width": 1.0}
    for overrides in (["model.width=0.5", "model.name=resnet18"], ["model.name=resnet18", "model.width=0.5"]):
        assert load_config(path, overrides)["model"] == {"name": "resnet18", "width": 0.5}
    assert load_config(path, ["model.name=c5l3", "model.width=0.25"])["model"]["batchnorm"] is True  # same model
    with pytest.raises(ConfigError, match="model.batchnorm is an option of c5l3 only"):
        load_config(path, ["model.name=resnet18", "model.batchnorm=true"])


def test_typed_configs_are_generated_from_the_schema(make_config):
    config = load_config(make_config())
    cfg = typed(config)
    assert cfg.optim.lr == config["optim"]["lr"] == 2e-3 and cfg.model.width == 0.125 and cfg.model.batchnorm
    assert dataclasses.asdict(cfg) == config
    fields = {field.name: field.type for field in dataclasses.fields(config_class("c5l3"))}
    assert list(fields) == list(SCHEMA) and fields["epochs"] is int and fields["weights"] is str
    optim = {field.name: field.type for field in dataclasses.fields(fields["optim"])}
    assert list(optim) == list(SCHEMA["optim"]) and optim["lr"] is float and optim["betas"] == list[float]
    assert [field.name for field in dataclasses.fields(config_class("resnet18").__dataclass_fields__["model"].type)] \
        == ["name", "width"]
    with pytest.raises(dataclasses.FrozenInstanceError):
        cfg.optim.lr = 1.0
