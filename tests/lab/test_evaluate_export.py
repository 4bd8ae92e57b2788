"""``scratchgrad evaluate`` and ``scratchgrad export --to torch`` on a tiny run, and the way back from torch."""
from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from scratchgrad.lab.cli import main
from scratchgrad.lab.config import dump_toml, load_config
from scratchgrad.lab.rundir import RunDir
from scratchgrad.models import build_model

SHAPE = {"in_channels": 1, "num_classes": 10, "input_size": 28}  # the MNIST sample's


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    """A finished tiny run with a validation split: 2 epochs of c5l3 (BatchNorm, fc dropout) on the MNIST sample."""
    folder = tmp_path_factory.mktemp("evaluate")
    config = folder / "tiny.toml"
    config.write_text(dump_toml({
        "epochs": 2, "batch_size": 32, "eval_batch_size": 50,
        "data": {"dataset": "mnist-sample", "subset": 128, "test_subset": 100, "val_split": 32},
        "model": {"name": "c5l3", "width": 0.125, "batchnorm": True, "fc_dropout": 0.3},
        "optim": {"name": "adam", "lr": 2e-3},
    }))
    assert main(["train", str(config), "--out", str(folder / "run")]) == 0
    return folder / "run"


def test_evaluate_repeats_the_trainers_numbers_of_the_best_epoch(run, tmp_path, capsys):
    rows = RunDir(run).read_metrics()
    best = max(rows, key=lambda row: row["val_acc"])
    capsys.readouterr()
    assert main(["evaluate", str(run), "--json", str(tmp_path / "test.json")]) == 0
    printed = capsys.readouterr().out
    result = json.loads((tmp_path / "test.json").read_text())
    assert result["images"] == 100 and result["split"] == "test"
    assert result["accuracy"] == best["test_acc"] and result["loss"] == pytest.approx(best["test_loss"], rel=1e-12)
    confusion = np.array(result["confusion"])
    assert confusion.shape == (10, 10) and confusion.sum() == 100 and (confusion.sum(1) == 10).all()  # balanced
    np.testing.assert_allclose(result["per_class_accuracy"], np.diag(confusion) / 10)
    assert np.trace(confusion) / 100 == result["accuracy"]
    assert f"accuracy {100 * best['test_acc']:.2f}%" in printed and "predicted as" in printed
    assert result["classes"][3] in printed

    assert main(["evaluate", str(run / "best.safetensors"), "--split", "val", "--json", str(tmp_path / "v.json")]) == 0
    val = json.loads((tmp_path / "v.json").read_text())
    assert val["images"] == 32 and val["accuracy"] == best["val_acc"]


def test_evaluate_errors_are_one_line(run, tmp_path, capsys):
    (tmp_path / "w.safetensors").write_bytes((run / "best.safetensors").read_bytes())
    cases = [([str(run), "--split", "val", "--set", "data.val_split=0"], "holds no validation split"),
             ([str(tmp_path / "w.safetensors")], "needs --config FILE"),
             ([str(tmp_path / "nothing")], "no such run directory or weights file"),
             ([str(run), "--set", "model.width=0.25"], "do not fit model c5l3")]
    for arguments, message in cases:
        assert main(["evaluate", *arguments]) == 2
        error = capsys.readouterr().err
        assert message in error and len(error.splitlines()) == 1, error


def test_export_loads_into_the_torch_model_and_back(run, tmp_path, capsys):
    assert main(["export", str(run), "--to", "torch", "-o", str(tmp_path / "model.pt")]) == 0
    assert "torch.load(" in capsys.readouterr().out
    state = torch.load(tmp_path / "model.pt", weights_only=True)
    options = {key: value for key, value in load_config(run / "config.toml")["model"].items() if key != "name"}
    model = build_model("c5l3", torch.nn, **options, **SHAPE)
    model.load_state_dict(state)  # strict: every key, every shape
    from scratchgrad import serialization

    saved = serialization.load(run / "best.safetensors")
    for name, tensor in model.state_dict().items():
        np.testing.assert_array_equal(tensor.numpy(), saved[name].numpy(), err_msg=name)

    # the way back: a torch state dict saved as safetensors is a weights file for scratchgrad
    safetensors_torch = pytest.importorskip("safetensors.torch")
    safetensors_torch.save_file(model.state_dict(), str(tmp_path / "from_torch.safetensors"))
    json_out = tmp_path / "back.json"
    assert main(["evaluate", str(tmp_path / "from_torch.safetensors"), "--config", str(run / "config.toml"),
                 "--json", str(json_out)]) == 0
    assert main(["evaluate", str(run), "--set", "engine=torch", "--json", str(tmp_path / "torch.json")]) == 0
    back, on_torch = (json.loads(path.read_text()) for path in (json_out, tmp_path / "torch.json"))
    assert back["confusion"] == json.loads(_evaluate_json(run, tmp_path))["confusion"]
    assert abs(on_torch["accuracy"] - back["accuracy"]) <= 1 / 100  # the engines' rounding may flip one tie
    assert on_torch["loss"] == pytest.approx(back["loss"], rel=1e-4)


def _evaluate_json(run, tmp_path):
    assert main(["evaluate", str(run), "--json", str(tmp_path / "own.json")]) == 0
    return (tmp_path / "own.json").read_text()
