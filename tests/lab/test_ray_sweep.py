"""``sweep --ray``: a grid on a local Ray cluster gives what ``--jobs`` gives, and resumes; its progress line."""
from __future__ import annotations

import os
import signal
import threading
import time
from pathlib import Path

import pytest

from scratchgrad.lab.cli import main
from scratchgrad.lab.rundir import RunDir
from scratchgrad.lab.sweep import Job

from test_train import metrics


@pytest.fixture(scope="module")
def cluster():
    """One local Ray instance for the module: starting one takes 10-20 s here."""
    ray = pytest.importorskip("ray")
    ray.init(num_cpus=2, include_dashboard=False, logging_level="ERROR")
    yield ray
    ray.shutdown()


def test_progress_counts_done_failed_running_and_waiting(tmp_path):
    from scratchgrad.lab.ray_sweep import progress

    jobs = [Job(Path("c.toml"), tmp_path / name, 1, status=status)
            for name, status in (("a", "finished"), ("b", "failed (exit 2)"), ("c", "pending"), ("d", "pending"))]
    with RunDir(jobs[2].out).lock():  # a run being trained holds its lock
        line = progress(jobs, jobs[2:])
    assert line == "grid: 2/4 done (1 failed), 1 running, 1 waiting"


def test_a_new_run_computes_on_the_cpus_its_task_reserves(tmp_path):
    from scratchgrad.lab.ray_sweep import reserve_threads

    jobs = [Job(Path("c.toml"), tmp_path / "a", 1), Job(Path("c.toml"), tmp_path / "b", 1, ["seed=1"], threads=3)]
    reserve_threads(jobs, 2.5)
    assert (jobs[0].overrides, jobs[0].threads) == (["threads=2"], 2)
    assert (jobs[1].overrides, jobs[1].threads) == (["seed=1"], 3)  # the config's own threads are kept


def test_a_grid_on_ray_finishes_despite_a_failing_run_and_resumes(cluster, make_config, tmp_path, capsys,
                                                                  monkeypatch):
    monkeypatch.chdir(tmp_path)
    configs = [make_config("a", top={"epochs": 2}), make_config("b"),
               make_config("broken", top={"weights": "missing.safetensors"})]
    # "a" ran one of its two epochs before (as a sweep stopped after it would leave it)
    assert main(["train", str(configs[0]), "--out", "runs/a", "--set", "epochs=1"]) == 0
    capsys.readouterr()
    assert main(["sweep", *map(str, configs), "--ray"]) == 1
    out = capsys.readouterr().out
    assert "grid: 3/3 done (1 failed), 0 running, 0 waiting" in out
    assert "| runs/a | finished | 2/2 |" in out and "| runs/b | finished | 1/1 |" in out
    assert "| runs/broken | failed (exit 2) | 0 |" in out
    assert "resumed after epoch 1" in Path("runs/a/log.txt").read_text()
    assert len(metrics(Path("runs/a"))) == 3 and len(metrics(Path("runs/b"))) == 2
    assert "missing.safetensors" in Path("runs/broken/console.txt").read_text()

    assert main(["sweep", *map(str, configs), "--ray"]) == 1  # again: the finished runs are skipped
    out = capsys.readouterr().out
    assert "| runs/a | already finished | 2/2 |" in out and "| runs/b | already finished | 1/1 |" in out
    assert "| runs/broken | failed (exit 2) | 0 |" in out


@pytest.mark.slow
def test_a_run_whose_worker_dies_is_retried_and_resumes(cluster, make_config, tmp_path, capsys, monkeypatch):
    from scratchgrad.lab.ray_sweep import ray_sweep
    from scratchgrad.lab.sweep import plan

    monkeypatch.chdir(tmp_path)
    config = make_config("long", top={"epochs": 4}, data={"subset": 512})
    killed: list[int] = []
    killer = threading.Thread(target=_kill_worker_after_first_epoch, args=(RunDir("runs/long"), killed), daemon=True)
    killer.start()
    assert ray_sweep(plan([config]), max_retries=2) == 0
    killer.join()
    assert killed, "the run ended before its worker could be killed"
    assert "| runs/long | finished | 4/4 |" in capsys.readouterr().out
    assert "resumed after epoch" in Path("runs/long/log.txt").read_text()


def _kill_worker_after_first_epoch(run: RunDir, killed: list[int]) -> None:
    """SIGKILL the Ray worker of the task training ``run`` once the run finished an epoch."""
    deadline = time.monotonic() + 240
    while time.monotonic() < deadline:
        holder = run.holder()
        if holder not in (None, "unknown") and run.exists() and run.finished_epochs() >= 1:
            with open(f"/proc/{holder}/stat") as stream:
                worker = int(stream.read().rsplit(")", 1)[1].split()[1])  # the train process's parent
            os.kill(worker, signal.SIGKILL)
            killed.append(worker)
            return
        time.sleep(0.2)
