"""``scratchgrad sweep --ray [ADDRESS]``: the runs of a sweep as Ray tasks, on one machine or a cluster.

Each run (config x seed) is one Ray task that does what ``--jobs`` does for it (see
:mod:`.sweep`): skip it when finished, resume it when its run directory holds an
unfinished run, else start it, as a ``scratchgrad train`` process whose console output
goes to ``console.txt`` in its run directory. So a finished grid gives the same run
directories, summary table and ``report`` as ``--jobs``, and submitting the same sweep
again continues it.

- Resources: a task asks for ``--cpus-per-run`` CPUs (default 1) and, for ``device =
  "cuda"``, one GPU; Ray runs as many at once as the cluster's resources allow. Ray does
  not pin CPUs, so a new run computes on that many threads unless its config sets ``threads``.
- Failures: a task whose worker or node dies is run again (``--max-retries``, default 3);
  the retry resumes the run from its last checkpoint. A run that fails by itself (bad
  config, non-finite loss) is not retried: it would fail the same way.
- Paths: run directories are written under ``--root`` by whichever node runs the task, and
  configs are read there, so on a cluster of several machines ``--root`` and the config
  files must lie on a filesystem every node mounts at the same path (NFS, a cluster
  filesystem), and every node needs scratchgrad and its datasets installed.
- Address: without one, a local Ray instance is started for the sweep (``address =
  "local"``); ``--ray auto`` joins the cluster this machine belongs to (``ray start``),
  ``--ray HOST:PORT`` (or ``ray://HOST:10001``) a given one.
"""
from __future__ import annotations

import os
import threading
import time
from dataclasses import replace
from typing import Any

from .config import ConfigError, load_config
from .rundir import RunDir
from .sweep import FINISHED, Job, exit_status, run_job, summary

LOCAL = "local"  # Ray's address for a new local instance
PROGRESS_EVERY_S = 30.0  # a progress line at least this often, and whenever a run ends
LOCK_WAIT_S = 60.0  # how long a retried task waits for the killed attempt's run to release its lock


def ray_sweep(jobs: list[Job], address: str = LOCAL, cpus_per_run: float = 1, max_retries: int = 3,
              echo: Any = print) -> int:
    """Run ``jobs`` as Ray tasks on the cluster at ``address``; print progress and the summary table.

    Args:
        jobs: from :func:`.sweep.plan`.
        address: a Ray cluster address, or "local" for a new local instance. Ignored when
            this process already called ``ray.init``.
        cpus_per_run: CPUs each task reserves (a float; Ray does not pin them).
        max_retries: how often a task is run again after its worker died.

    Returns 0 when every run finished, as :func:`.sweep.sweep` does.
    """
    if not cpus_per_run > 0:
        raise ConfigError(f"--cpus-per-run: expected a number > 0, got {cpus_per_run}")
    if max_retries < 0:
        raise ConfigError(f"--max-retries: expected an int >= 0, got {max_retries}")
    ray = _connect(address)
    reserve_threads(jobs, cpus_per_run)
    task = ray.remote(_run_task)
    cwd = os.getcwd()
    pending = {}
    for job in jobs:
        gpus = 1 if load_config(job.config, job.overrides)["device"] == "cuda" else 0
        remote = replace(job, config=job.config.resolve(), out=job.out.resolve())  # the same paths on every node
        options = task.options(num_cpus=cpus_per_run, num_gpus=gpus, max_retries=max_retries, name=job.out.name)
        pending[options.remote(remote, cwd)] = job
    echo(f"sweep on Ray: {len(jobs)} run(s) submitted ({cpus_per_run:g} CPU(s) each)")
    try:
        _follow(ray, pending, jobs, echo)
    except KeyboardInterrupt:
        for ref, job in pending.items():
            ray.cancel(ref, force=True)
            job.status = "cancelled"
        echo("sweep interrupted: runs cancelled; submit the same sweep to resume them from their last checkpoint")
    echo(summary(jobs))
    return exit_status(jobs)


def reserve_threads(jobs: list[Job], cpus_per_run: float) -> None:
    """A new run that would take every core of its node (``threads = 0``) gets the CPUs its task reserves."""
    threads = max(1, int(cpus_per_run))
    for job in jobs:
        if job.threads == 0:
            job.overrides.append(f"threads={threads}")
            job.threads = threads


def _follow(ray: Any, pending: dict[Any, Job], jobs: list[Job], echo: Any) -> None:
    """Collect the tasks as they end, printing each result and the grid's progress."""
    while pending:
        done, _ = ray.wait(list(pending), num_returns=1, timeout=PROGRESS_EVERY_S)
        for ref in done:
            job = pending.pop(ref)
            try:
                job.status = ray.get(ref)
            except ray.exceptions.RayError as error:  # the worker died every time, or the task raised
                job.status = f"failed ({type(error).__name__}: {str(error).strip().splitlines()[-1][:200]})"
            echo(f"{job.out}: {job.status}")
        echo(progress(jobs, pending.values()))


def progress(jobs: list[Job], pending: Any) -> str:
    """One line: runs done (and failed), running (their run directory locked), waiting."""
    pending = list(pending)
    running = sum(RunDir(job.out).holder() is not None for job in pending)
    finished = [job for job in jobs if job not in pending]
    failed = sum(job.status not in FINISHED for job in finished)
    return (f"grid: {len(finished)}/{len(jobs)} done ({failed} failed), {running} running, "
            f"{len(pending) - running} waiting")


def _run_task(job: Job, cwd: str) -> str:
    """In a Ray worker: run ``job`` as ``--jobs`` would; returns its status."""
    if os.path.isdir(cwd):  # relative paths inside configs (data.root) mean what they meant to the driver
        os.chdir(cwd)
    run, deadline = RunDir(job.out), time.monotonic() + LOCK_WAIT_S
    while run.holder() is not None and time.monotonic() < deadline:  # a retry: the killed attempt's run stopping
        time.sleep(1.0)
    run_job(job, threading.Event(), print)
    return job.status


def _connect(address: str) -> Any:
    try:
        import ray
    except ImportError:
        raise ConfigError("sweep --ray needs Ray: pip install 'scratchgrad[ray]'") from None
    if not ray.is_initialized():
        try:
            ray.init(address=address, **({"include_dashboard": False} if address == LOCAL else {}))
        except (ConnectionError, ValueError, RuntimeError) as error:
            raise ConfigError(f"--ray {address}: cannot reach a Ray cluster there ({error})") from None
    return ray
