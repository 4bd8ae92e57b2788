"""Time to 99% MNIST test accuracy on the CPU: the same script on scratchgrad and on PyTorch.

    python benchmarks/time_to_accuracy.py                         # every recipe, seeds 0 1 2
    python benchmarks/time_to_accuracy.py --recipes plain --seeds 0 1 2 3 4

Each trial is a fresh process running ``mnist_script.py`` (a plain PyTorch script whose
imports ``--engine scratch`` switches to scratchgrad), timed from its start to its exit,
which comes right after the first test evaluation at or above the target: interpreter
start, imports, data loading and training all count. The engines alternate (the first of
each seed's pair alternates too), so that a shared machine's drift hits both. The table
gives each engine's median and range over the seeds and the ratio of the medians; a trial
that never reached the target is listed and left out of its median.

Recipes (``RECIPES``): ``plain`` is an ordinary script (small CNN conv32-BN-ReLU-pool,
conv64-BN-ReLU-pool, Linear 3136-128-10, Adam + OneCycle, batch 128, test every 117
steps); ``fast`` is the quickest setting found for this model family with a test every 39
steps; ``short`` trains a shorter schedule with label smoothing and tests once, at its end
(airbench's way: the schedule is fixed in advance, so no evaluation is spent on the way).
results/README.md says what was tried.

Writes ``results/time_to_accuracy.json``.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
RESULTS = HERE.parent / "results" / "time_to_accuracy.json"
ENGINES = ("scratch", "torch")
RECIPES: dict[str, list[str]] = {
    "plain": ["--width", "1", "--batch-size", "128", "--epochs", "3", "--max-lr", "3e-3", "--eval-every", "117"],
    "fast": ["--width", "0.5", "--batch-size", "256", "--epochs", "2", "--max-lr", "1e-2", "--eval-every", "39"],
    "short": ["--width", "0.5", "--batch-size", "256", "--epochs", "1.5", "--max-lr", "1e-2", "--label-smoothing", "0.1",
              "--eval-every", "100000"],
}


def trial(engine: str, recipe: str, seed: int) -> dict[str, Any]:
    """One fresh process of mnist_script.py: its JSON line and the process's wall time."""
    command = [sys.executable, str(HERE / "mnist_script.py"), "--engine", engine, "--seed", str(seed),
               *RECIPES[recipe]]
    start = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True)
    wall = time.perf_counter() - start
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(command)} failed:\n{done.stderr[-2000:]}")
    result = json.loads(done.stdout.strip().splitlines()[-1])
    return {**result, "recipe": recipe, "wall_seconds": wall}


def machine() -> dict[str, Any]:
    """The CPU, core count, BLAS kernel and versions the figures hold for."""
    from threadpoolctl import threadpool_info

    import numpy as np

    from scratchgrad.lab.engines import cpu_name

    info = {"cpu": cpu_name(), "cores": len(os.sched_getaffinity(0)), "python": platform.python_version(),
            "numpy": np.__version__}
    blas = [lib for lib in threadpool_info() if lib.get("user_api") == "blas"]
    if blas:
        info["blas"] = f"{blas[0].get('internal_api')} {blas[0].get('version')} {blas[0].get('architecture')}"
    try:
        import torch

        info["torch"] = torch.__version__
    except ImportError:
        pass
    return info


def summarize(trials: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Per recipe and engine: median and range of the wall time over the trials that reached the target."""
    rows = []
    for recipe in dict.fromkeys(t["recipe"] for t in trials):
        medians = {}
        for engine in ENGINES:
            mine = [t for t in trials if t["recipe"] == recipe and t["engine"] == engine]
            reached = [t["wall_seconds"] for t in mine if t["reached"]]
            median = statistics.median(reached) if reached else float("nan")
            medians[engine] = median
            rows.append({"recipe": recipe, "engine": engine, "trials": len(mine), "reached": len(reached),
                         "median_s": median, "min_s": min(reached, default=float("nan")),
                         "max_s": max(reached, default=float("nan")),
                         "median_steps": statistics.median(t["steps"] for t in mine) if mine else 0})
        rows[-2]["ratio"] = rows[-1]["ratio"] = medians["scratch"] / medians["torch"]
    return rows


def table(rows: list[dict[str, Any]]) -> str:
    lines = ["| recipe | engine | reached | median s | range s | steps | scratch/torch |", "|---|---|---|---|---|---|---|"]
    for row in rows:
        lines.append(f"| {row['recipe']} | {row['engine']} | {row['reached']}/{row['trials']} | {row['median_s']:.1f} "
                     f"| {row['min_s']:.1f}-{row['max_s']:.1f} | {row['median_steps']:.0f} | {row['ratio']:.2f} |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--recipes", nargs="+", default=list(RECIPES), choices=list(RECIPES))
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args()
    trials = []
    for recipe in args.recipes:
        for number, seed in enumerate(args.seeds):
            for engine in ENGINES if number % 2 == 0 else ENGINES[::-1]:
                trials.append(trial(engine, recipe, seed))
                t = trials[-1]
                print(f"{recipe} {engine} seed {seed}: {t['wall_seconds']:.1f} s, test acc {100 * t['test_acc']:.2f}% "
                      f"after {t['steps']} steps", flush=True)
    rows = summarize(trials)
    print(table(rows))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({"machine": machine(), "recipes": {r: RECIPES[r] for r in args.recipes},
                                    "summary": rows, "trials": trials}, indent=2) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
