"""The command line: every subcommand is there; summary; the demo (slow)."""
from __future__ import annotations

import csv
import time

import pytest

from scratchgrad.lab.cli import build_parser, main


def test_every_subcommand_is_listed():
    help_text = build_parser().format_help()
    for command in ("train", "sweep", "report", "compare", "demo", "summary", "augment-preview"):
        assert command in help_text


def test_summary_prints_the_layer_table(capsys):
    assert main(["summary", "small_cnn"]) == 0
    output = capsys.readouterr().out
    assert "[1, 1, 28, 28]" in output and "Total params:          421,738" in output
    assert main(["summary", "c5l3", "--input", "1,28,28", "--set", "batchnorm=true", "--set", "width=0.25"]) == 0
    assert "BatchNorm2d" in capsys.readouterr().out


@pytest.mark.parametrize("args, message", [
    (["summary", "resnet18", "--set", "batchnorm=true"], "resnet18 options are width"),
    (["summary", "c5l3", "--set", "width=big"], "width = 'big' has the wrong type; expected a number"),
    (["summary", "vgg16", "--input", "3,16,16"], "vgg16: input_size must be an int >= 32, got 16"),
    (["summary", "c5l3", "--input", "3x32x32"], "expected C,H,W"),
    (["train"], "give a CONFIG file, or --resume RUN_DIR"),
    (["compare", "missing.toml"], "config missing.toml: no such file"),
])
def test_bad_arguments_exit_2_with_a_message(args, message, capsys):
    assert main(args) == 2
    assert message in capsys.readouterr().err


@pytest.mark.slow
def test_demo_trains_to_97_percent_in_under_two_minutes(tmp_path):
    start = time.perf_counter()
    assert main(["demo", "--out", str(tmp_path / "demo")]) == 0
    seconds = time.perf_counter() - start
    with open(tmp_path / "demo" / "metrics.csv", newline="") as stream:
        rows = list(csv.DictReader(stream))
    assert len(rows) >= 2  # epochs
    assert float(rows[-1]["test_acc"]) >= 0.97, rows
    assert seconds < 120, f"demo took {seconds:.0f} s"
