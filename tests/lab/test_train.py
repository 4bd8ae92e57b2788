"""End to end: train tiny runs with each engine, and stop and resume them in every way."""
from __future__ import annotations

import csv
import math
import os
import signal
import subprocess
import sys
import tomllib
from pathlib import Path

import numpy as np
import pytest

import scratchgrad
from scratchgrad.data import DataLoader
from scratchgrad.lab import train as lab_train
from scratchgrad.lab.cli import main
from scratchgrad.lab.config import ConfigError, load_config
from scratchgrad.lab.trainer import EXIT_DIVERGED, EXIT_INTERRUPTED
from scratchgrad.serialization import load

HEADER = ["epoch", "train_loss", "train_acc", "val_loss", "val_acc", "test_loss", "test_acc", "lr", "seconds"]
RESUME = {"top": {"epochs": 2}, "model": {"conv_dropout": 0.2}, "augment": {"preset": "study+jitter"}}
# Runs the CLI, SIGKILL-ing its own process just before a given training batch of a given epoch.
KILLER = """
import os, signal, sys
from scratchgrad.data import DataLoader
from scratchgrad.lab.cli import main
epoch_to_kill, step_to_kill = int(sys.argv[1]), int(sys.argv[2])
plain_iter = DataLoader.__iter__
def iter_then_kill(self):
    epoch = self.epoch
    for step, batch in enumerate(plain_iter(self)):
        if self.shuffle and (epoch, step) == (epoch_to_kill, step_to_kill):
            os.kill(os.getpid(), signal.SIGKILL)
        yield batch
DataLoader.__iter__ = iter_then_kill
sys.exit(main(sys.argv[3:]))
"""


def metrics(run: Path, columns: slice = slice(None)) -> list[list[str]]:
    with open(run / "metrics.csv", newline="") as stream:
        return [row[columns] for row in csv.reader(stream)]


def cli(*args: str, script: str | None = None) -> subprocess.CompletedProcess:
    command = [sys.executable, "-c", script, *args] if script else [sys.executable, "-m", "scratchgrad.lab.cli", *args]
    return subprocess.run(command, capture_output=True, text=True, timeout=300)


@pytest.mark.parametrize("engine", ["scratch", "torch"])
def test_one_epoch_writes_a_complete_run_directory(engine, make_config, tmp_path):
    if engine == "torch":
        pytest.importorskip("torch")
    run = tmp_path / "run"
    assert main(["train", str(make_config()), "--engine", engine, "--out", str(run)]) == 0

    names = {path.name for path in run.iterdir()}
    assert {"config.toml", "metrics.csv", "last.safetensors", "best.safetensors", "state.safetensors",
            "curves.png", "log.txt"} <= names
    assert not [name for name in names if name.endswith(".tmp")]
    config = tomllib.loads((run / "config.toml").read_text())
    assert config["engine"] == engine and config["device"] == "cpu" and config["model"]["width"] == 0.125
    assert config["run"]["scratchgrad"] == scratchgrad.__version__ and config["run"]["numpy"] == np.__version__
    assert config["run"]["git_commit"] and (engine != "torch" or config["run"]["torch"])
    assert load_config(run / "config.toml") == {key: value for key, value in config.items() if key != "run"}

    rows = metrics(run)
    assert rows[0] == HEADER and len(rows) == 2 and rows[1][0] == "1"
    epoch, train_loss, train_acc, val_loss, val_acc, test_loss, test_acc, lr, seconds = map(float, rows[1])
    assert math.isnan(val_loss) and math.isnan(val_acc)  # no data.val_split
    assert 0 < train_loss < 10 and 0 <= train_acc <= 1 and 0 < test_loss < 10 and lr == 2e-3 and seconds > 0
    assert test_acc * 100 == pytest.approx(round(test_acc * 100))  # 100 test images: whole percents

    weights = load(run / "last.safetensors")
    assert "features.0.weight" in weights and weights["features.0.weight"].shape == (16, 1, 3, 3)
    state = load(run / "state.safetensors")
    assert state["progress"]["epoch"] == 1 and state["progress"]["step"] == 0
    assert set(state) >= {"model", "optimizer", "scheduler", "rng", "progress", "metrics"}
    assert "started" in (run / "log.txt").read_text() and "epoch 1/1" in (run / "log.txt").read_text()


def test_resume_after_sigkill_in_epoch_two_is_exact(make_config, tmp_path):
    config = make_config(**RESUME)
    killed, whole = tmp_path / "killed", tmp_path / "whole"
    result = cli("1", "2", "train", str(config), "--out", str(killed), script=KILLER)  # loader epoch 1 = epoch 2
    assert result.returncode == -signal.SIGKILL, result.stderr
    assert len(metrics(killed)) == 2  # the header and epoch 1

    resumed = cli("train", "--resume", str(killed))
    assert resumed.returncode == 0, resumed.stderr
    assert "resumed after epoch 1, step 0" in resumed.stdout
    assert cli("train", str(config), "--out", str(whole)).returncode == 0
    assert len(metrics(whole)) == 3
    assert metrics(killed, slice(0, 6)) == metrics(whole, slice(0, 6))  # all but seconds, every digit


def test_ctrl_c_saves_a_state_that_resumes_exactly(make_config, tmp_path, monkeypatch):
    config = load_config(make_config(**RESUME))
    lab_train.train(config, tmp_path / "whole")
    plain_iter = DataLoader.__iter__

    def iter_with_ctrl_c(self):
        epoch = self.epoch
        for step, batch in enumerate(plain_iter(self)):
            if self.shuffle and (epoch, step) == (1, 2):
                os.kill(os.getpid(), signal.SIGINT)  # as if Ctrl-C was pressed during batch 3 of epoch 2
            yield batch

    monkeypatch.setattr(DataLoader, "__iter__", iter_with_ctrl_c)
    interrupted = tmp_path / "interrupted"
    assert lab_train.train(config, interrupted) == EXIT_INTERRUPTED
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler  # the handler is removed again
    state = load(interrupted / "state.safetensors")
    assert (state["progress"]["epoch"], state["progress"]["step"]) == (1, 3)
    assert "interrupted at epoch 2, step 3" in (interrupted / "log.txt").read_text()
    monkeypatch.undo()

    assert lab_train.resume(interrupted) == 0
    assert metrics(interrupted, slice(0, 6)) == metrics(tmp_path / "whole", slice(0, 6))


@pytest.mark.filterwarnings("ignore:overflow:RuntimeWarning", "ignore:invalid value:RuntimeWarning")
def test_non_finite_loss_stops_the_run_and_keeps_the_last_good_checkpoint(make_config, tmp_path, capsys):
    # epoch 1 trains at lr 1e-3; the schedule then multiplies it by 1e30, and the loss overflows in epoch 2
    config = make_config(top={"epochs": 3}, optim={"name": "sgd", "lr": 1e-3},
                         schedule={"name": "step", "step_size": 1, "gamma": 1e30})
    run = tmp_path / "run"
    assert main(["train", str(config), "--out", str(run)]) == EXIT_DIVERGED
    message = capsys.readouterr().out
    assert "stopped: loss is nan at epoch 2, step " in message or "stopped: loss is inf at epoch 2, step " in message
    assert "the checkpoint of epoch 1 is kept" in message
    assert [row[0] for row in metrics(run)] == ["epoch", "1"]
    assert load(run / "state.safetensors")["progress"]["epoch"] == 1
    weights = load(run / "last.safetensors")
    assert all(np.isfinite(value.numpy()).all() for value in weights.values())


def test_weights_of_the_wrong_shape_are_named(make_config, tmp_path):
    narrow = load_config(make_config(model={"width": 0.0625}))
    lab_train.train(narrow, tmp_path / "narrow")
    config = load_config(make_config(), [f"weights={str(tmp_path / 'narrow' / 'last.safetensors')!r}"])
    with pytest.raises(ConfigError) as error:
        lab_train.train(config, tmp_path / "wide")
    assert "do not fit model c5l3" in str(error.value)
    assert "features.0.weight: copying a param with shape (8, 1, 3, 3) from checkpoint, " \
           "the shape in current model is (16, 1, 3, 3)" in str(error.value)


def test_weights_initialise_a_run(make_config, tmp_path):
    config = load_config(make_config())
    lab_train.train(config, tmp_path / "first")
    best = tmp_path / "first" / "best.safetensors"
    assert lab_train.train(load_config(make_config(), [f"weights={str(best)!r}"]), tmp_path / "second") == 0
    assert load_config(tmp_path / "second" / "config.toml")["weights"] == str(best)


def test_bad_input_is_an_error_that_writes_nothing(make_config, tmp_path, capsys):
    run = tmp_path / "run"
    assert main(["train", str(make_config()), "--set", "optim.lrr=0.1", "--out", str(run)]) == 2
    assert "unknown key 'optim.lrr'; did you mean optim.lr" in capsys.readouterr().err
    assert main(["train", str(make_config()), "--set", "optim.name=rmsprop", "--out", str(run)]) == 2
    assert "expected one of sgd, adam, adamw" in capsys.readouterr().err
    assert not run.exists()


def test_an_existing_run_is_not_overwritten_and_resume_keeps_its_config(make_config, tmp_path, capsys):
    run = tmp_path / "run"
    assert main(["train", str(make_config()), "--out", str(run)]) == 0
    assert main(["train", str(make_config()), "--out", str(run)]) == 2
    assert "already holds a run; resume it with `scratchgrad train --resume" in capsys.readouterr().err
    assert main(["train", "--resume", str(run), "--set", "optim.lr=0.1"]) == 2
    assert "only epochs may change when a run resumes, not optim" in capsys.readouterr().err
    assert main(["train", "--resume", str(run)]) == 0  # finished: nothing to do
    assert len(metrics(run)) == 2
