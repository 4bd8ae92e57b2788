"""Configs: defaults, a TOML file, --set overrides, and errors that say what is allowed."""
from __future__ import annotations

import tomllib
from pathlib import Path

import pytest

from scratchgrad.lab.build import make_data
from scratchgrad.lab.config import ConfigError, default_config, dump_toml, load_config, parse_override

EXPERIMENTS = Path(__file__).resolve().parents[2] / "experiments"


def test_defaults_then_file_then_overrides(make_config):
    path = make_config(optim={"lr": 0.01})
    config = load_config(path, ["optim.lr=0.05", "engine=torch", "model.width=0.25", "optim.betas=[0.8, 0.9]"])
    assert config["name"] == "tiny"  # the file's stem
    assert config["optim"] == {**default_config()["optim"], "lr": 0.05, "betas": [0.8, 0.9]}
    assert config["engine"] == "torch" and config["model"]["width"] == 0.25
    assert config["data"]["subset"] == 128 and config["epochs"] == 1
    assert config["seed"] == 0 and config["schedule"]["name"] == "none"  # defaults fill the rest


def test_integers_are_accepted_for_floats_and_kept_as_floats():
    config = load_config(None, ["optim.lr=1", "model.width=1"])
    assert config["optim"]["lr"] == 1.0 and isinstance(config["optim"]["lr"], float)


def test_model_table_follows_the_model():
    config = load_config(None, ["model.name=resnet18", "model.width=0.5"])
    assert config["model"] == {"name": "resnet18", "width": 0.5}


def test_dump_toml_round_trips():
    config = load_config(None, ["optim.lr=3e-4", "name=a \"quoted\" name", "schedule.milestones=[3, 6]"])
    assert tomllib.loads(dump_toml(config)) == config


def test_parse_override():
    assert parse_override("optim.lr=0.01") == (["optim", "lr"], 0.01)
    assert parse_override("engine=torch") == (["engine"], "torch")
    assert parse_override("model.batchnorm=true") == (["model", "batchnorm"], True)
    assert parse_override('data.root="/tmp/x y"') == (["data", "root"], "/tmp/x y")


@pytest.mark.parametrize("overrides, message", [
    (["optim.lrr=0.1"], "--set optim.lrr=0.1: unknown key 'optim.lrr'; did you mean optim.lr"),
    (["lr=0.1"], "unknown key 'lr'; did you mean optim.lr?"),
    (["model.widht=2"], "unknown key 'model.widht'; did you mean model.width?"),
    (["model.name=resnet18", "model.batchnorm=true"], "model.batchnorm is an option of c5l3 only"),
    (["data.subst=10"], "did you mean data.subset"),
])
def test_unknown_keys_name_the_closest_valid_ones(overrides, message):
    with pytest.raises(ConfigError) as error:
        load_config(None, overrides)
    assert message in str(error.value)


@pytest.mark.parametrize("override, message", [
    ("engine=jax", "engine = 'jax' is not allowed; expected one of scratch, torch"),
    ("optim.name=rmsprop", "expected one of sgd, adam, adamw"),
    ("data.dataset=cifar", "expected one of mnist, fashion-mnist, cifar10, mnist-sample"),
    ("model.name=alexnet", "expected one of c5l3, vgg16, resnet18, resnet50, small_cnn"),
    ("augment.preset=heavy", "expected one of none, study, study+jitter, crop+flip"),
    ("epochs=0", "epochs = 0 is out of range; expected a value >= 1"),
    ("epochs=1.5", "epochs = 1.5 has the wrong type; expected an integer"),
    ("optim.lr=-1", "optim.lr = -1.0 is out of range; expected a value > 0"),
    ("model.batchnorm=1", "model.batchnorm = 1 has the wrong type; expected true or false"),
    ("optim.betas=[0.9, 1.0]", "optim.betas = 1.0 is out of range; expected a value >= 0 and < 1"),
    ("optim=3", "optim must be a table of keys (name, lr,"),
    ("optim.lr=nan", "expected a finite number"),
    ("novalue", "expected key=value"),
])
def test_bad_values_name_what_is_allowed(override, message):
    with pytest.raises(ConfigError) as error:
        load_config(None, [override])
    assert message in str(error.value)


def test_errors_in_a_file_name_the_file(tmp_path):
    path = tmp_path / "bad.toml"
    path.write_text("[optim]\nlearning_rate = 0.1\n")
    with pytest.raises(ConfigError, match=r"config .*bad\.toml: unknown key 'optim\.learning_rate'"):
        load_config(path)
    path.write_text("epochs = \n")
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_config(path)
    with pytest.raises(ConfigError, match="no such file"):
        load_config(tmp_path / "missing.toml")


# ------------------------------------------------------------------ experiments/
STUDY_SETTINGS = {  # setting: (conv dropout, fc dropout, batchnorm, optimizer, augment, epochs)
    "1": (0.3, 0.5, False, "adam", "study", 150),
    "2": (0.3, 0.5, False, "sgd", "study+jitter", 150),
    "3": (0.0, 0.3, True, "adam", "study+jitter", 150),
    "4": (0.0, 0.0, True, "adam", "study+jitter", 150),
    "5": (0.0, 0.3, True, "adam", "study", 150),
    "6": (0.0, 0.3, True, "adam", "study+jitter", 256),
}
EXPECTED_FILES = (
    [f"cifar10-{s}" for s in [*STUDY_SETTINGS, "vgg16", "resnet18", "resnet50"]]
    + ["mnist-3", "mnist-resnet18"] + [f"fashion-mnist-{s}" for s in ["1", "2", "3", "4", "5", "resnet18"]]
)


def test_every_experiment_file_loads():
    paths = sorted(EXPERIMENTS.glob("*.toml"))
    names = {path.stem for path in paths}
    assert set(EXPECTED_FILES) <= names
    assert all(name in EXPECTED_FILES or name.endswith("-cpu") for name in names)
    for path in paths:
        load_config(path)


@pytest.mark.parametrize("name", EXPECTED_FILES)
def test_experiment_files_hold_the_study_values(name):
    config = load_config(EXPERIMENTS / f"{name}.toml")
    dataset, setting = name.rsplit("-", 1)
    assert config["data"]["dataset"] == dataset and config["batch_size"] == 64 and config["schedule"]["name"] == "none"
    optim = config["optim"]
    if optim["name"] == "adam":
        assert (optim["lr"], optim["weight_decay"]) == (3e-4, 1e-6)
    else:
        assert (optim["name"], optim["lr"], optim["momentum"], optim["weight_decay"]) == ("sgd", 1e-3, 0.9, 0.0)
    if setting in STUDY_SETTINGS:
        conv, fc, batchnorm, optimizer, augment, epochs = STUDY_SETTINGS[setting]
        model = config["model"]
        assert (model["name"], model["conv_dropout"], model["fc_dropout"], model["batchnorm"]) == ("c5l3", conv, fc, batchnorm)
        assert optim["name"] == optimizer
        if dataset == "mnist":  # the study augmented MNIST with rotation and flip only, for 100 epochs
            assert (config["augment"]["preset"], config["epochs"]) == ("study", 100)
        else:
            assert (config["augment"]["preset"], config["epochs"]) == (augment, epochs)
    else:
        assert config["model"]["name"] == setting and optim["name"] == "adam" and config["epochs"] == 150
        assert config["augment"]["preset"] == ("study" if dataset == "mnist" else "study+jitter")


CPU_SIZED = sorted(path.stem for path in EXPERIMENTS.glob("*-cpu.toml")
                   if (EXPERIMENTS / f"{path.stem[:-4]}.toml").exists())


@pytest.mark.parametrize("name", CPU_SIZED)
def test_cpu_sized_files_reduce_only_width_and_epochs(name):
    """A ``-cpu`` file is its full recipe with fewer epochs and a width multiplier, nothing else,
    so that its rows in results/ differ from the study's recipe only where they say so."""
    full, reduced = load_config(EXPERIMENTS / f"{name[:-4]}.toml"), load_config(EXPERIMENTS / f"{name}.toml")
    assert reduced["epochs"] < full["epochs"] and 0 < reduced["model"]["width"] < 1
    for config in (full, reduced):  # the name is the file's; a schedule's length follows epochs
        del config["name"], config["epochs"], config["model"]["width"], config["schedule"]["total_epochs"]
    assert reduced == full


OWN_RECIPES = sorted(path.stem for path in EXPERIMENTS.glob("*-onecycle-cpu.toml"))
OWN_AUGMENTATION = {"mnist": "none", "fashion-mnist": "crop+flip"}  # flips would mirror digits


@pytest.mark.parametrize("name", OWN_RECIPES)
def test_own_recipe_files_change_only_the_schedule_and_augmentation(name):
    """``X-onecycle-cpu`` is ``X-cpu`` with our recipe (OneCycle to 10x the study's rate, the dataset's
    augmentation), the same for every model, so that its row differs from the study's recipe only there."""
    base = load_config(EXPERIMENTS / f"{name.replace('-onecycle', '')}.toml")
    own = load_config(EXPERIMENTS / f"{name}.toml")
    recipe = (own["schedule"]["name"], own["schedule"]["max_lr"], own["augment"]["preset"])
    assert recipe == ("onecycle", 3e-3, OWN_AUGMENTATION[own["data"]["dataset"]])
    for config in (base, own):
        del config["name"], config["schedule"], config["augment"]
    assert own == base


def test_crop_flip_preset_crops_back_to_the_datasets_image_size():
    data = make_data(load_config(None, ["augment.preset=crop+flip", "data.subset=20"]), prefetch=0)
    crop = data.train.transform.transforms[0]
    assert (type(crop).__name__, crop.size, crop.padding) == ("RandomCrop", (28, 28), 3)
    assert [type(t).__name__ for t in data.test.transform.transforms] == ["Normalize"]
    images, _ = next(iter(data.train))
    assert images.shape[1:] == (1, 28, 28)
