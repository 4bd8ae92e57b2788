"""``scratchgrad augment-preview``."""
from __future__ import annotations

import dataclasses

import pytest

from scratchgrad.data import CIFAR10
from scratchgrad.lab.cli import main

pytest.importorskip("matplotlib")
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def test_preview_of_the_shipped_sample(tmp_path):
    output = tmp_path / "figures" / "mnist.png"
    assert main(["augment-preview", "--dataset", "mnist-sample", "--preset", "study+jitter",
                 "-o", str(output)]) == 0
    assert output.read_bytes().startswith(PNG_SIGNATURE)


def test_preview_of_cifar_from_root(tmp_path, cifar_folder, isolated):
    output = tmp_path / "cifar.png"
    assert main(["augment-preview", "--dataset", "cifar10", "--root", str(cifar_folder[0]),
                 "-o", str(output)]) == 0
    assert output.read_bytes().startswith(PNG_SIGNATURE)


def test_missing_dataset_is_a_clean_error(tmp_path, isolated, monkeypatch, capsys):
    offline = dataclasses.replace(CIFAR10.source, mirrors=("http://127.0.0.1:9/",))
    monkeypatch.setattr(CIFAR10, "source", offline)
    status = main(["augment-preview", "--dataset", "cifar10", "-o", str(tmp_path / "x.png")])
    assert status == 2
    assert "CIFAR-10 not found" in capsys.readouterr().err


def test_unknown_preset_is_a_usage_error(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["augment-preview", "--dataset", "mnist", "--preset", "heavy", "-o", "x.png"])
    assert exit_info.value.code == 2
    assert "invalid choice" in capsys.readouterr().err
