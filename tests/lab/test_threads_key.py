"""The ``threads`` config key: the trainer sets the engine's thread count from it, and
``sweep --jobs N`` gives each child its share of the cores."""
from __future__ import annotations

import tomllib

import pytest

import scratchgrad
from scratchgrad.lab.cli import main
from scratchgrad.lab.config import ConfigError, load_config
from scratchgrad.lab.rundir import RunDir
from scratchgrad.lab.sweep import plan, share_cores
from scratchgrad.lab.trainer import Trainer
from scratchgrad.runtime import machine, threads


@pytest.fixture
def restore_threads(monkeypatch):
    """Put both engines' thread counts back as they were after the test."""
    torch = pytest.importorskip("torch")
    before = scratchgrad.get_num_threads(), torch.get_num_threads()
    monkeypatch.setattr(threads, "_requested", threads._requested)  # "every core" again, if it was
    yield torch
    scratchgrad.set_num_threads(before[0])
    torch.set_num_threads(before[1])


def test_threads_defaults_to_all_cores_and_rejects_negative_counts(make_config):
    assert load_config(make_config())["threads"] == 0
    with pytest.raises(ConfigError, match="threads = -1 is out of range"):
        load_config(make_config(), ["threads=-1"])


@pytest.mark.parametrize("engine", ["scratch", "torch"])
def test_trainer_sets_the_engines_thread_count(engine, make_config, tmp_path, restore_threads):
    torch = restore_threads
    get = {"scratch": scratchgrad.get_num_threads, "torch": torch.get_num_threads}[engine]
    scratchgrad.set_num_threads(3)
    torch.set_num_threads(3)
    trainer = Trainer(load_config(make_config(), [f"engine={engine}", "threads=1"]), RunDir(tmp_path / "run"))
    assert get() == trainer.engine.get_num_threads() == 1
    Trainer(load_config(make_config(), [f"engine={engine}"]), RunDir(tmp_path / "run0"))  # threads = 0
    assert get() == machine.available_cores()


def test_share_cores_splits_the_cores_between_the_runs_unless_the_config_sets_threads(make_config, tmp_path):
    jobs = plan([make_config("a"), make_config("b", top={"threads": 3})], root=tmp_path)
    share_cores(jobs, workers=2, cores=5)
    assert [load_config(job.config, job.overrides)["threads"] for job in jobs] == [2, 3]
    share_cores(jobs, workers=2, cores=5)  # already shared: nothing added
    assert jobs[0].overrides == ["threads=2"]
    one_core = plan([make_config("c")], root=tmp_path)
    share_cores(one_core, workers=4, cores=2)
    assert one_core[0].threads == 1  # at least one thread each
    alone = plan([make_config("d")], root=tmp_path)
    share_cores(alone, workers=1, cores=2)
    assert alone[0].overrides == [] and alone[0].threads == 0  # one run at a time: every core


def test_sweep_child_records_its_share_of_the_cores(make_config, tmp_path, monkeypatch):
    monkeypatch.setattr("scratchgrad.lab.sweep.available_cores", lambda: 5)
    root = tmp_path / "runs"
    assert main(["sweep", str(make_config("only")), "--root", str(root), "--jobs", "2"]) == 0
    recorded = tomllib.loads((root / "only" / "config.toml").read_text())
    assert recorded["threads"] == 2
