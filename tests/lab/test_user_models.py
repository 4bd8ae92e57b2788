"""Users' own work from the command line: a model 'package.module:builder', a .npz of arrays, an image folder."""
from __future__ import annotations

import sys
import textwrap

import numpy as np
import pytest

from scratchgrad.data import load_dataset
from scratchgrad.lab.cli import main
from scratchgrad.lab.config import ConfigError, dump_toml, load_config
from scratchgrad.lab.report import report
from scratchgrad.lab.rundir import RunDir
from scratchgrad.models import build_model, describe, dropout_options, model_options

USER_MODULE = textwrap.dedent('''
    from scratchgrad.models import Option, options

    @options(p=Option("dropout before the classifier", kind="dropout", column="fc dropout", minimum=0.0, below=1.0))
    def tiny(nn, *, in_channels=1, num_classes=10, input_size=8, hidden=4, p=0.0):
        return nn.Sequential(nn.Conv2d(in_channels, hidden, 3, padding=1), nn.ReLU(), nn.Flatten(), nn.Dropout(p),
                             nn.Linear(hidden * input_size * input_size, num_classes))

    def plain(nn, *, in_channels, num_classes, input_size, hidden=3):
        return nn.Sequential(nn.Flatten(), nn.Linear(in_channels * input_size * input_size, num_classes))

    def no_shape(nn, *, hidden=3):
        return nn.Linear(3, 3)
''')


@pytest.fixture
def user_module(tmp_path, monkeypatch):
    """``usermodels.py`` in the current directory (tmp_path), imported afresh by each test."""
    (tmp_path / "usermodels.py").write_text(USER_MODULE)
    monkeypatch.chdir(tmp_path)
    monkeypatch.delitem(sys.modules, "usermodels", raising=False)
    yield "usermodels"
    sys.modules.pop("usermodels", None)


def write_npz(path, rng, channels=None, classes=3, side=8):
    """A learnable toy set: class k is bright in row band k. (N, H, W) images without ``channels``."""
    def split(n):
        labels = rng.integers(0, classes, n)
        images = rng.integers(0, 60, (n, side, side))
        for image, label in zip(images, labels):
            image[label * side // classes:(label + 1) * side // classes] += 180
        images = images.astype(np.uint8)
        return (images if channels is None else np.repeat(images[:, None], channels, 1)), labels

    (train_images, train_labels), (test_images, test_labels) = split(96), split(30)
    np.savez(path, train_images=train_images, train_labels=train_labels, test_images=test_images,
             test_labels=test_labels, classes=np.array(["top", "middle", "bottom"][:classes]))
    return path


def write_config(path, **tables):
    config = {"epochs": 2, "batch_size": 16, "eval_batch_size": 30, "optim": {"lr": 0.01}, **tables}
    path.write_text(dump_toml(config))
    return path


def finished(run):
    rows = RunDir(run).read_metrics()
    return len(rows), rows[-1]["test_acc"]


def test_a_user_builder_is_checked_like_the_zoos(user_module):
    assert model_options("usermodels:tiny") == {"hidden": 4, "p": 0.0}
    assert dropout_options("usermodels:tiny") == ["p"] and dropout_options("usermodels:plain") == []
    assert describe({"name": "usermodels:tiny", "p": 0.25}) == {"fc dropout": "0.25"}
    assert load_config(None, ["model.name=usermodels:tiny", "model.hidden=8"])["model"] == \
        {"name": "usermodels:tiny", "hidden": 8, "p": 0.0}
    for override, message in [("model.hiden=3", "unknown key 'model.hiden'; did you mean model.hidden?"),
                              ("model.hidden=2.5", "model.hidden = 2.5 has the wrong type; expected an integer"),
                              ("model.p=1.0", "model.p = 1.0 is out of range; expected a value >= 0.0 and < 1.0")]:
        with pytest.raises(ConfigError, match=message):
            load_config(None, ["model.name=usermodels:tiny", override])
    for name, message in [("usermodels:missing", "usermodels has no callable 'missing'"),
                          ("nosuchmodule:tiny", "cannot import 'nosuchmodule'"),
                          ("usermodels:no_shape", "it takes no keyword-only in_channels, num_classes, input_size"),
                          ("alexnet", "expected one of c5l3")]:
        with pytest.raises(ConfigError, match=message):
            load_config(None, [f"model.name={name}"])
    assert build_model("usermodels:plain", __import__("scratchgrad").nn, in_channels=1, num_classes=3,
                       input_size=8)(__import__("scratchgrad").zeros(2, 1, 8, 8)).shape == (2, 3)


def test_train_a_user_model_on_a_user_npz_from_the_cli(user_module, tmp_path, capsys):
    data = write_npz(tmp_path / "toy.npz", np.random.default_rng(0))
    config = write_config(tmp_path / "toy.toml", data={"dataset": "npz", "root": str(data)},
                          model={"name": "usermodels:tiny", "hidden": 8, "p": 0.1})
    assert main(["train", str(config), "--out", str(tmp_path / "run")]) == 0
    epochs, accuracy = finished(tmp_path / "run")
    assert epochs == 2 and accuracy > 0.6  # learnt beyond chance (1/3)
    report([tmp_path / "run"], tmp_path / "report.md", echo=lambda *_: None)
    row = next(line for line in (tmp_path / "report.md").read_text().splitlines() if line.startswith("| toy"))
    assert "| usermodels:tiny | – | – | 0.1 |" in row  # BatchNorm and conv dropout unknown, fc dropout from its spec


def test_npz_images_keep_their_channels_and_class_names(tmp_path):
    data = write_npz(tmp_path / "rgb.npz", np.random.default_rng(1), channels=3)
    train, test = load_dataset("npz", True, data), load_dataset("npz", False, data)
    assert train.images.shape == (96, 3, 8, 8) and test.images.shape == (30, 3, 8, 8)
    assert train.classes == ["top", "middle", "bottom"] and train.labels.dtype == np.int64
    with np.load(data) as arrays:
        np.testing.assert_array_equal(train.images, arrays["train_images"])
        np.testing.assert_array_equal(test.labels, arrays["test_labels"])


@pytest.mark.parametrize("arrays, message", [
    ({"train_images": np.zeros((4, 8, 8), np.uint8)}, "no array train_labels, test_images, test_labels"),
    ({"train_images": np.zeros((4, 8, 8)), "train_labels": np.zeros(4, int), "test_images": np.zeros((2, 8, 8)),
      "test_labels": np.zeros(2, int)}, "train_images is float64 .4, 8, 8.; expected uint8"),
    ({"train_images": np.zeros((4, 8, 8), np.uint8), "train_labels": np.zeros(3, int),
      "test_images": np.zeros((2, 8, 8), np.uint8), "test_labels": np.zeros(2, int)}, "4 train images but 3 labels"),
    ({"train_images": np.zeros((4, 8, 8), np.uint8), "train_labels": np.array([0, 1, 2, -1]),
      "test_images": np.zeros((2, 8, 8), np.uint8), "test_labels": np.zeros(2, int)}, "expected labels >= 0"),
])
def test_a_malformed_npz_is_one_error_line_naming_the_array(tmp_path, capsys, arrays, message):
    np.savez(tmp_path / "bad.npz", **arrays)
    config = write_config(tmp_path / "bad.toml", data={"dataset": "npz", "root": str(tmp_path / "bad.npz")},
                          model={"name": "small_cnn"})
    assert main(["train", str(config), "--out", str(tmp_path / "run")]) == 2
    error = capsys.readouterr().err
    assert error.startswith("scratchgrad train: error: data.dataset = 'npz': ") and len(error.splitlines()) == 1
    assert __import__("re").search(message, error), error


def test_a_missing_npz_or_root_names_data_root(tmp_path, capsys):
    for root in ("", str(tmp_path / "none.npz")):
        config = write_config(tmp_path / "c.toml", data={"dataset": "npz", "root": root})
        assert main(["train", str(config), "--out", str(tmp_path / "run")]) == 2
        assert "data.root" in capsys.readouterr().err


def test_an_image_folder_trains_from_the_cli(tmp_path):
    image = pytest.importorskip("PIL.Image")
    rng = np.random.default_rng(2)
    with np.load(write_npz(tmp_path / "toy.npz", rng, classes=2)) as arrays:
        for split in ("train", "test"):
            for index, (pixels, label) in enumerate(zip(arrays[f"{split}_images"], arrays[f"{split}_labels"])):
                folder = tmp_path / "folder" / split / ("cat", "dog")[label]
                folder.mkdir(parents=True, exist_ok=True)
                image.fromarray(pixels).save(folder / f"{index}.png")
        test = load_dataset("folder", False, tmp_path / "folder")
        names = sorted(range(30), key=str)  # 0, 1, 10, 11, ... as the files sort
        by_file = {label: [i for i in names if arrays["test_labels"][i] == label] for label in (0, 1)}
        expected = [i for label in (0, 1) for i in by_file[label]]
        assert test.classes == ["cat", "dog"] and test.images.shape == (30, 1, 8, 8)
        np.testing.assert_array_equal(test.images[:, 0], arrays["test_images"][expected])
        np.testing.assert_array_equal(test.labels, arrays["test_labels"][expected])
    config = write_config(tmp_path / "f.toml", epochs=1, data={"dataset": "folder", "root": str(tmp_path / "folder")},
                          model={"name": "small_cnn", "width": 0.125}, augment={"preset": "study"})
    assert main(["train", str(config), "--out", str(tmp_path / "run")]) == 0
    assert finished(tmp_path / "run")[0] == 1


def test_summary_takes_a_user_model(user_module, capsys):
    assert main(["summary", "usermodels:tiny", "--set", "hidden=2"]) == 0
    assert "Conv2d" in capsys.readouterr().out  # its default input, 1x8x8
    assert main(["summary", "usermodels:plain"]) == 2
    assert "no default in_channels and input_size" in capsys.readouterr().err
    assert main(["summary", "usermodels:plain", "--input", "1,8,8"]) == 0
