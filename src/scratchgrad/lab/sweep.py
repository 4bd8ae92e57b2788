"""``scratchgrad sweep``: several runs, one process each, so that one failure loses nothing else.

Each config (times each seed) gets the run directory ``ROOT/<name>`` (``ROOT/<name>-seed<N>``
with ``--seeds``). Running the same sweep again skips finished runs and resumes
unfinished ones; a run locked by a live process (an earlier sweep's child, a ``train``) is
reported and left alone, never run twice at once. A child's console output goes to
``console.txt`` in its run directory. With ``--jobs N`` each new run computes on
``cores // N`` threads (at least 1) unless its config sets ``threads``.

A child dies with its sweep, however the sweep ends (Ctrl-C, ``kill``, even SIGKILL):
it watches its parent and, once the parent is gone, stops as on Ctrl-C, saving a
resumable state.
"""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..runtime.machine import available_cores
from .config import ConfigError, load_config
from .report import duration, markdown_table, run_result
from .rundir import RunDir
from .trainer import EXIT_DIVERGED, EXIT_INTERRUPTED

CONSOLE = "console.txt"
FINISHED = ("finished", "already finished")  # the statuses of a run that needs nothing more
PARENT_PID = "SCRATCHGRAD_SWEEP_PID"  # set in a child's environment: the sweep's pid, watched by the child


@dataclass
class Job:
    """One run of a sweep and, once it ran, how it ended."""

    config: Path
    out: Path
    epochs: int
    overrides: list[str] = field(default_factory=list)
    status: str = "pending"
    threads: int = 0  # the config's ``threads`` (0: all the cores; see share_cores)


def plan(configs: list[str | Path], root: str | Path = "runs", seeds: list[int] | None = None,
         overrides: list[str] | tuple[str, ...] = ()) -> list[Job]:
    """The jobs of a sweep; every config is checked first, so a typo fails before anything runs."""
    jobs = []
    for path in configs:
        for seed in seeds if seeds else [None]:
            settings = [*overrides, *([f"seed={seed}"] if seed is not None else [])]
            config = load_config(path, settings)
            name = config["name"] + (f"-seed{seed}" if seed is not None else "")
            jobs.append(Job(Path(path), Path(root) / name, config["epochs"], settings, threads=config["threads"]))
    outs = [job.out for job in jobs]
    duplicates = sorted({str(out) for out in outs if outs.count(out) > 1})
    if duplicates:
        raise ConfigError(f"sweep: several configs would share the run directory {duplicates[0]}; "
                         "give them different names (the `name` key or the file name)")
    return jobs


def sweep(jobs: list[Job], workers: int = 1, echo: Any = print) -> int:
    """Run ``jobs``, ``workers`` at a time; print a summary table; 0 when every run finished."""
    if workers < 1:
        raise ConfigError(f"--jobs: expected an int >= 1, got {workers}")
    share_cores(jobs, workers)
    stop = threading.Event()
    pool = ThreadPoolExecutor(workers)
    try:
        for future in [pool.submit(run_job, job, stop, echo) for job in jobs]:
            future.result()
    except KeyboardInterrupt:  # the children got the Ctrl-C too and save resumable states
        stop.set()
        echo("sweep interrupted: waiting for the running runs to save their state; run the same sweep to resume")
    finally:
        pool.shutdown(wait=True, cancel_futures=True)
    echo(summary(jobs))
    return exit_status(jobs)


def share_cores(jobs: list[Job], workers: int, cores: int | None = None) -> None:
    """With several runs at once, a new run that would take every core (``threads = 0``) gets
    ``max(1, cores // workers)`` threads instead (a ``threads=`` override), so that the runs do
    not oversubscribe the cores; a ``threads`` the user set is kept."""
    if workers <= 1:
        return
    share = max(1, (cores or available_cores()) // workers)
    for job in jobs:
        if job.threads == 0:
            job.overrides.append(f"threads={share}")
            job.threads = share


def exit_status(jobs: list[Job]) -> int:
    """0 when every run of the sweep finished (now or before), else 1."""
    return 0 if all(job.status in FINISHED for job in jobs) else 1


def run_job(job: Job, stop: threading.Event, echo: Any) -> None:
    """Skip, resume or start ``job`` in a ``scratchgrad train`` process, unless ``stop`` is set; sets its status."""
    if stop.is_set():
        job.status = "not started"
        return
    run = RunDir(job.out)
    holder = run.holder()
    if holder is not None:
        job.status = f"locked: pid {holder} is training it; not started"
        echo(f"{job.out}: {job.status}")
        return
    if run.exists() and run.finished_epochs() >= job.epochs:
        job.status = "already finished"
        return
    if run.exists():
        command = ["train", "--resume", str(job.out), "--set", f"epochs={job.epochs}"]
        what = "resuming"
    else:
        command = ["train", str(job.config), "--out", str(job.out), *_set_flags(job.overrides)]
        what = "starting"
    echo(f"{what} {job.out}")
    job.out.mkdir(parents=True, exist_ok=True)
    with open(job.out / CONSOLE, "a") as console:
        code = subprocess.run([sys.executable, "-m", "scratchgrad.lab.cli", *command], stdout=console,
                              stderr=subprocess.STDOUT, env={**os.environ, PARENT_PID: str(os.getpid())}).returncode
    job.status = {0: "finished", EXIT_DIVERGED: "diverged (loss not finite)",
                  EXIT_INTERRUPTED: "interrupted"}.get(code, f"failed (exit {code})")
    echo(f"{job.out}: {job.status}" + ("" if code == 0 else f"; see {job.out / CONSOLE}"))


def stop_with_parent(poll_seconds: float = 0.5) -> None:
    """In a sweep's child: stop as on Ctrl-C once the sweep (``$SCRATCHGRAD_SWEEP_PID``) is gone.

    A thread polls the parent pid: a parent killed with SIGKILL cannot pass anything on, and
    an orphan would go on writing its run beside the next sweep's child.
    """
    parent = int(os.environ[PARENT_PID])

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(poll_seconds)
        os.kill(os.getpid(), signal.SIGINT)

    threading.Thread(target=watch, name="stop-with-parent", daemon=True).start()


def _set_flags(overrides: list[str]) -> list[str]:
    return [flag for override in overrides for flag in ("--set", override)]


def summary(jobs: list[Job]) -> str:
    """A Markdown table: each run's status and results so far."""
    header = ["run", "status", "epochs", "test acc at best val", "best test acc (study)", "final test acc",
              "wall time"]
    rows = []
    for job in jobs:
        result = run_result(RunDir(job.out)) if RunDir(job.out).exists() else None
        if result is None:
            rows.append([str(job.out), job.status, "0", "–", "–", "–", "–"])
            continue
        honest = f"{100 * result.test_at_best_val:.2f} @ {result.best_val_epoch}" if result.best_val_epoch else "–"
        rows.append([str(job.out), job.status, f"{result.epochs}/{result.planned}", honest,
                     f"{100 * result.best_acc:.2f} @ {result.best_epoch}", f"{100 * result.final_acc:.2f}",
                     duration(result.seconds)])
    return markdown_table(header, rows)
