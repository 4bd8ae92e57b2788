"""Scale-out costs on one machine: sweep --ray against --jobs, and data-parallel step time.

    python benchmarks/scale_out.py [--runs 8] [--jobs 2] [--engines scratch torch] [--steps-epochs 3]

1. Sweep throughput on tiny runs (a few batches of the MNIST sample, so that the per-run
   overhead shows): the wall time of ``--runs`` runs with ``sweep --jobs J`` and with
   ``sweep --ray`` on a local Ray instance of J CPUs (one CPU per run), and the time
   ``ray.init`` takes, reported apart. Overhead per run = sweep wall time x J / runs minus
   the mean training time a run records itself (metrics.csv), i.e. what a run costs besides
   training: process start, imports, dataset, run directory, scheduling.
2. Data-parallel step time of ``train``: 1 process on 2 cores (2 threads) against
   ``--nproc 2`` (2 processes on 1 core each), per engine, c5l3 on the MNIST sample; the
   time of the last epoch (training + a 100-image evaluation) divided by its steps.

Prints a table and writes ``benchmarks/results/scale_out.json``. Run it on a quiet machine
with at least 2 cores; Ray from ``pip install 'scratchgrad[ray]'`` (``--skip-ray`` without it).
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from scratchgrad.lab.config import dump_toml
from scratchgrad.lab.rundir import RunDir
from scratchgrad.lab.sweep import plan, sweep

RESULTS = Path(__file__).parent / "results" / "scale_out.json"
TINY_RUN = {"epochs": 1, "batch_size": 32, "eval_batch_size": 100,
            "data": {"dataset": "mnist-sample", "subset": 64, "test_subset": 100},
            "model": {"name": "c5l3", "width": 0.125}, "optim": {"name": "adam", "lr": 2e-3}}
STEP_RUN = {"batch_size": 64, "eval_batch_size": 100, "augment": {"preset": "none"},
            "data": {"dataset": "mnist-sample", "subset": 1024, "test_subset": 100},
            "model": {"name": "c5l3", "width": 0.5}, "optim": {"name": "sgd", "lr": 0.05, "momentum": 0.9}}


def sweep_configs(folder: Path, runs: int) -> list[Path]:
    paths = []
    for number in range(runs):
        path = folder / f"tiny{number}.toml"
        path.write_text(dump_toml({**TINY_RUN, "seed": number}))
        paths.append(path)
    return paths


def training_seconds(root: Path) -> float:
    """The mean time the runs under ``root`` recorded for their epochs (training and evaluation)."""
    runs = [RunDir(path) for path in sorted(root.iterdir()) if RunDir(path).exists()]
    return sum(sum(row["seconds"] for row in run.read_metrics()) for run in runs) / len(runs)


def time_sweeps(folder: Path, runs: int, jobs: int, with_ray: bool) -> list[dict]:
    configs = sweep_configs(folder, runs)
    results = []
    start = time.perf_counter()
    assert sweep(plan(configs, folder / "jobs"), jobs, echo=lambda message: None) == 0
    results.append(_sweep_row("--jobs", jobs, runs, time.perf_counter() - start, folder / "jobs"))
    if with_ray:
        import ray

        from scratchgrad.lab.ray_sweep import ray_sweep

        start = time.perf_counter()
        ray.init(num_cpus=jobs, include_dashboard=False, logging_level="ERROR")
        init_s = time.perf_counter() - start
        start = time.perf_counter()
        assert ray_sweep(plan(configs, folder / "ray"), echo=lambda message: None) == 0
        row = _sweep_row("--ray", jobs, runs, time.perf_counter() - start, folder / "ray")
        ray.shutdown()
        results.append({**row, "ray_init_s": init_s})
    return results


def _sweep_row(how: str, jobs: int, runs: int, wall_s: float, root: Path) -> dict:
    train_s = training_seconds(root)
    return {"sweep": how, "concurrent": jobs, "runs": runs, "wall_s": wall_s, "run_train_s": train_s,
            "overhead_per_run_s": wall_s * jobs / runs - train_s}


def time_steps(folder: Path, engine: str, epochs: int) -> list[dict]:
    config = folder / f"steps-{engine}.toml"
    config.write_text(dump_toml({**STEP_RUN, "epochs": epochs, "engine": engine}))
    results = []
    for nproc in (1, 2):
        out = folder / f"steps-{engine}-{nproc}"
        command = [sys.executable, "-m", "scratchgrad.lab.cli", "train", str(config), "--out", str(out),
                   "--nproc", str(nproc)]
        subprocess.run(command, check=True, stdout=subprocess.DEVNULL)
        last = RunDir(out).read_metrics()[-1]
        steps = -(-STEP_RUN["data"]["subset"] // STEP_RUN["batch_size"])
        results.append({"engine": engine, "layout": "1 process x 2 threads" if nproc == 1 else "2 processes x 1 thread",
                        "nproc": nproc, "step_ms": 1000 * last["seconds"] / steps, "epoch_s": last["seconds"]})
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=8, help="tiny runs in each sweep")
    parser.add_argument("--jobs", type=int, default=2, help="runs at once (--jobs J; J CPUs for Ray)")
    parser.add_argument("--engines", nargs="+", default=["scratch", "torch"], choices=("scratch", "torch"))
    parser.add_argument("--steps-epochs", type=int, default=3, help="epochs of each data-parallel timing run")
    parser.add_argument("--skip-ray", action="store_true", help="time --jobs only")
    parser.add_argument("--json", type=Path, default=RESULTS)
    args = parser.parse_args()
    if len(os.sched_getaffinity(0)) < 2:
        sys.exit("scale_out.py: needs at least 2 cores")
    with tempfile.TemporaryDirectory() as folder:
        sweeps = time_sweeps(Path(folder), args.runs, args.jobs, not args.skip_ray)
        steps = [row for engine in args.engines for row in time_steps(Path(folder), engine, args.steps_epochs)]
    print(f"{'sweep':<8} {'runs':>4} {'at once':>7} {'wall s':>8} {'train s/run':>11} {'overhead s/run':>14}"
          f" {'ray.init s':>10}")
    for row in sweeps:
        init = f"{row['ray_init_s']:.1f}" if "ray_init_s" in row else "–"
        print(f"{row['sweep']:<8} {row['runs']:>4} {row['concurrent']:>7} {row['wall_s']:>8.1f} "
              f"{row['run_train_s']:>11.2f} {row['overhead_per_run_s']:>14.2f} {init:>10}")
    print(f"\n{'engine':<8} {'layout':<24} {'step ms':>8} {'epoch s':>8}")
    for row in steps:
        print(f"{row['engine']:<8} {row['layout']:<24} {row['step_ms']:>8.1f} {row['epoch_s']:>8.2f}")
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps({"machine": platform.node(), "processor": platform.processor(),
                                     "cores": len(os.sched_getaffinity(0)), "sweeps": sweeps, "steps": steps},
                                    indent=2))
    print(f"\nwrote {args.json}")


if __name__ == "__main__":
    main()
