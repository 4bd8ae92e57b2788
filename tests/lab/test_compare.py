"""``scratchgrad compare``: both engines, same weights, same batches, step by step."""
from __future__ import annotations

import re

import pytest

from scratchgrad.lab.cli import main

pytest.importorskip("torch")


def losses(output: str) -> list[tuple[float, float, float]]:
    """(loss torch, loss scratch, relative difference) of each step line."""
    return [tuple(map(float, match)) for match in re.findall(r"^\s*\d+\s+(\S+)\s+(\S+)\s+(\S+)\s", output, re.M)]


def test_c5l3_quarter_width_agrees_to_1e_4_over_20_steps_in_float32(make_config, capsys):
    # SGD: with Adam, float32 runs drift apart by ~1e-3 within 20 steps. MNIST's flat
    # background gives windows of equal values; torch's direct convolution keeps them exactly
    # equal (first tap wins the max-pool), while GEMM/Winograd convolutions round them apart,
    # so another tap takes the gradient and Adam amplifies the difference. In float64 (the
    # test below) the engines agree to 1e-12.
    config = make_config(model={"width": 0.25, "batchnorm": False, "fc_dropout": 0.5, "conv_dropout": 0.3},
                         top={"batch_size": 16}, data={"subset": 320},
                         optim={"name": "sgd", "lr": 0.1, "momentum": 0.9})
    code = main(["compare", str(config), "--steps", "20"])
    output = capsys.readouterr().out
    steps = losses(output)
    assert len(steps) == 20 and len({t for t, _, _ in steps}) == 20, output  # new batches, moving weights
    assert all(abs(t - s) <= 1e-4 * abs(t) for t, s, _ in steps), output
    assert code == 0 and "engines agree" in output and "dropout off, float32" in output


def test_adam_with_batchnorm_agrees_to_1e_12_in_float64(make_config, capsys):
    config = make_config(top={"batch_size": 8}, data={"subset": 80})  # width 0.125, BatchNorm, fc dropout
    code = main(["compare", str(config), "--steps", "12", "--dtype", "float64", "--rtol", "1e-12"])
    output = capsys.readouterr().out
    steps = losses(output)
    assert len(steps) == 12 and len({t for t, _, _ in steps}) == 12, output  # two epochs of new batches
    assert all(abs(t - s) <= 1e-12 * abs(t) for t, s, _ in steps), output
    assert code == 0 and "engines agree" in output


def test_disagreement_sets_the_exit_status(make_config, capsys):
    config = make_config(top={"batch_size": 8})
    assert main(["compare", str(config), "--steps", "2", "--rtol", "0"]) == 1
    assert "engines DISAGREE" in capsys.readouterr().out
