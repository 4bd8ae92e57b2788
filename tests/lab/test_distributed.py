"""Data-parallel training: the loader's shards, 2 processes against 1 on each engine, a killed rank."""
from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from scratchgrad.data import DataLoader, load_dataset, transforms
from scratchgrad.lab.rundir import RunDir
from scratchgrad.serialization import load

torch = pytest.importorskip("torch")
pytest.importorskip("torch.distributed")

# Batches of 25 from 128 images: 5 full steps split 13/12, then a last batch of 3 split 2/1.
PLAIN = {"top": {"epochs": 1, "batch_size": 25}, "augment": {"preset": "none"},
         "model": {"name": "c5l3", "width": 0.125, "batchnorm": False, "fc_dropout": 0.0},
         "optim": {"name": "sgd", "lr": 0.05, "momentum": 0.9}}
# `scratchgrad train` in float64 on both engines: models made double, float32 batches cast.
FLOAT64 = """
import sys
import numpy as np
import scratchgrad.lab.trainer as trainer
from scratchgrad.lab import engines
from scratchgrad.lab.cli import main
make_model = trainer.make_model
trainer.make_model = lambda *args, **kwargs: make_model(*args, **kwargs).double()
for engine in (engines.ScratchEngine, engines.TorchEngine):
    def tensor(self, array, plain=engine.tensor):
        return plain(self, array.astype(np.float64) if array.dtype == np.float32 else array)
    engine.tensor = tensor
sys.exit(main(sys.argv[1:]))
"""
# The CLI, with rank 1 SIGKILL-ing itself before its third training batch.
KILL_RANK_1 = """
import os, signal, sys
from scratchgrad.data import DataLoader
from scratchgrad.lab.cli import main
plain_iter = DataLoader.__iter__
def iter_then_kill(self):
    for step, batch in enumerate(plain_iter(self)):
        if self.shuffle and step == 2 and os.environ["RANK"] == "1":
            os.kill(os.getpid(), signal.SIGKILL)
        yield batch
DataLoader.__iter__ = iter_then_kill
sys.exit(main(sys.argv[1:]))
"""


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def ranks(script: str, args: list[str], world: int = 2, timeout_s: str = "20") -> list[subprocess.Popen]:
    """``world`` processes of ``python -c script args``, launched as torchrun would (RANK, WORLD_SIZE, ...)."""
    port = str(free_port())
    processes = []
    for rank in range(world):
        env = {**os.environ, "RANK": str(rank), "LOCAL_RANK": str(rank), "WORLD_SIZE": str(world),
               "MASTER_ADDR": "127.0.0.1", "MASTER_PORT": port, "SCRATCHGRAD_DIST_TIMEOUT": timeout_s,
               "OMP_NUM_THREADS": "1"}  # as torchrun sets it: two ranks share the two cores
        processes.append(subprocess.Popen([sys.executable, "-c", script, *args], env=env, stdout=subprocess.PIPE,
                                          stderr=subprocess.PIPE, text=True))
    return processes


def finish(processes: list[subprocess.Popen], timeout: float = 240) -> list[tuple[int, str]]:
    results = []
    for process in processes:
        try:
            _, err = process.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            for other in processes:
                other.kill()
            raise AssertionError("a rank hung") from None
        results.append((process.returncode, err))
    return results


def weights(run: Path) -> dict[str, np.ndarray]:
    return {name: tensor.numpy() for name, tensor in load(run / "last.safetensors").items()}


def test_shards_of_a_batch_are_the_one_process_batch_split_in_order():
    dataset = load_dataset("mnist-sample", train=True)
    augment = transforms.study_preset("mnist", train=True)
    whole = DataLoader(dataset, 25, shuffle=True, transform=augment, seed=3, prefetch=0)
    parts = []
    for rank in range(3):
        loader = DataLoader(dataset, 25, shuffle=True, transform=augment, seed=3, prefetch=0)
        loader.set_shard(rank, 3)
        loader.set_epoch(2)
        parts.append(list(loader))
    whole.set_epoch(2)
    for number, (images, labels) in enumerate(whole):
        sizes = [len(part[number][1]) for part in parts]
        assert sizes == [len(chunk) for chunk in np.array_split(labels, 3)]
        np.testing.assert_array_equal(np.concatenate([part[number][0] for part in parts]), images)
        np.testing.assert_array_equal(np.concatenate([part[number][1] for part in parts]), labels)
    assert len(parts[0]) == len(whole)
    with pytest.raises(ValueError, match="rank: expected an int in"):
        whole.set_shard(3, 3)


@pytest.mark.parametrize("engine", ["scratch", "torch"])
def test_two_processes_reach_the_weights_of_one_process_on_the_whole_batch(engine, make_config, tmp_path):
    config = str(make_config("plain", **PLAIN))
    one, two = tmp_path / "one", tmp_path / "two"
    single = subprocess.run([sys.executable, "-c", FLOAT64, "train", config, "--engine", engine, "--out", str(one)],
                            capture_output=True, text=True, timeout=240)
    assert single.returncode == 0, single.stderr
    results = finish(ranks(FLOAT64, ["train", config, "--engine", engine, "--out", str(two)]))
    assert [code for code, _ in results] == [0, 0], results
    expected, got = weights(one), weights(two)
    assert got.keys() == expected.keys() and all(array.dtype == np.float64 for array in got.values())
    for name in expected:
        np.testing.assert_allclose(got[name], expected[name], rtol=1e-10, atol=1e-13, err_msg=name)
    [row_one], [row_two] = RunDir(one).read_metrics(), RunDir(two).read_metrics()
    assert row_two["test_acc"] == row_one["test_acc"] and row_two["train_acc"] == row_one["train_acc"]
    assert row_two["test_loss"] == pytest.approx(row_one["test_loss"], rel=1e-12)
    assert row_two["train_loss"] == pytest.approx(row_one["train_loss"], rel=1e-12)
    assert sorted(path.name for path in two.iterdir()) == sorted(path.name for path in one.iterdir())


@pytest.mark.parametrize("engine", ["scratch", pytest.param("torch", marks=pytest.mark.slow)])
def test_a_killed_rank_makes_the_other_fail_with_a_clear_error(engine, make_config, tmp_path):
    config = str(make_config("plain", **{**PLAIN, "top": {"epochs": 3, "batch_size": 25}}))
    started = time.monotonic()
    command = ["train", config, "--out", str(tmp_path / "run"), "--engine", engine]
    (code_0, err_0), (code_1, _) = finish(ranks(KILL_RANK_1, command, timeout_s="10"))
    assert code_1 == -signal.SIGKILL
    assert code_0 == 2, err_0
    assert "rank 0: lost contact with the other processes of the run" in err_0 and "Traceback" not in err_0
    assert time.monotonic() - started < 200
    assert RunDir(tmp_path / "run").holder() is None


@pytest.mark.slow
def test_nproc_launches_ranks_that_resume_like_one_process(make_config, tmp_path):
    config = str(make_config("plain", **PLAIN))
    one, two = tmp_path / "one", tmp_path / "two"
    command = [sys.executable, "-m", "scratchgrad.lab.cli", "train"]
    assert subprocess.run([*command, config, "--out", str(one), "--set", "epochs=2"], timeout=240).returncode == 0
    assert subprocess.run([*command, config, "--out", str(two), "--nproc", "2"], timeout=240).returncode == 0
    assert subprocess.run([*command, "--resume", str(two), "--set", "epochs=2", "--nproc", "2"],
                          timeout=240).returncode == 0
    expected, got = weights(one), weights(two)
    for name in expected:
        np.testing.assert_allclose(got[name], expected[name], rtol=1e-4, atol=1e-6, err_msg=name)
    rows_one, rows_two = RunDir(one).read_metrics(), RunDir(two).read_metrics()
    assert [row["test_acc"] for row in rows_two] == [row["test_acc"] for row in rows_one]
    assert "resumed after epoch 1" in (two / "log.txt").read_text()


@pytest.mark.slow
def test_nproc_names_the_killed_rank_and_stops_the_others(make_config, tmp_path):
    config = str(make_config("plain", **{**PLAIN, "top": {"epochs": 50, "batch_size": 25}}))
    run = tmp_path / "run"
    launcher = subprocess.Popen([sys.executable, "-m", "scratchgrad.lab.cli", "train", config, "--out", str(run),
                                 "--nproc", "2"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 200
    while not (run / "metrics.csv").is_file() and time.monotonic() < deadline:
        time.sleep(0.5)
    rank_0 = int(RunDir(run).holder())
    children = Path(f"/proc/{launcher.pid}/task/{launcher.pid}/children").read_text().split()
    rank_1 = next(int(pid) for pid in children if int(pid) != rank_0
                  and b"spawn_main" in Path(f"/proc/{pid}/cmdline").read_bytes())
    os.kill(rank_1, signal.SIGKILL)
    _, err = launcher.communicate(timeout=120)
    assert launcher.returncode == 2, err
    assert f"rank 1 (pid {rank_1}) was killed by SIGKILL; the other ranks were stopped" in err
    assert RunDir(run).holder() is None
