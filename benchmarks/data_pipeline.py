"""Throughput of the data pipeline on one CPU core: transforms, presets and the loader.

    python benchmarks/data_pipeline.py [--batches 60] [--batch-size 64]

Prints a table and writes ``benchmarks/results/data_pipeline.json``. The target is the
study's CIFAR-10 training pipeline (rotation 15, flip, translate 0.1, ColorJitter
0.2/0.2/0.2/0.1, normalize) at >= 5,000 images/s on one core, so that augmentation
never starves training.

Rates are given per second of CPU time of this process (pinned to one core), which is
what one core can do even when other processes share the machine, and per second of
wall-clock time, which is what this run saw. Each is the best of several repeats.
"""
from __future__ import annotations

import os

# One core: pin the process and keep every numeric library single-threaded. Must run
# before NumPy is imported.
for _variable in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_variable] = "1"
if hasattr(os, "sched_setaffinity"):
    os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})

import argparse  # noqa: E402
import json  # noqa: E402
import platform  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402

from scratchgrad.data import DataLoader, ImageDataset, mnist_sample, transforms  # noqa: E402

TARGET_IMAGES_PER_S = 5000
RESULTS = Path(__file__).parent / "results" / "data_pipeline.json"


class Rate:
    """Images per second of CPU time and of wall-clock time, best over repeats."""

    def __init__(self):
        self.cpu = self.wall = 0.0

    def measure(self, run) -> None:
        """Time ``run()``, which returns how many images it processed."""
        cpu, wall = time.process_time(), time.perf_counter()
        count = run()
        self.cpu = max(self.cpu, count / max(time.process_time() - cpu, 1e-9))
        self.wall = max(self.wall, count / (time.perf_counter() - wall))


def transform_rate(step, batches: list[np.ndarray], repeats: int = 5) -> Rate:
    """``step(batch, rng)`` over ``batches``, ``repeats`` times."""
    rng = np.random.default_rng(0)
    for batch in batches[:10]:  # warm-up: first calls grow the heap and pay page faults
        step(batch, rng)

    def run() -> int:
        for batch in batches:
            step(batch, rng)
        return sum(len(batch) for batch in batches)

    rate = Rate()
    for _ in range(repeats):
        rate.measure(run)
    return rate


def loader_rate(dataset: ImageDataset, batch_size: int, prefetch: int, repeats: int = 3) -> Rate:
    """Shuffled, augmented epochs of the study's CIFAR pipeline through ``DataLoader``."""
    loader = DataLoader(dataset, batch_size, shuffle=True, drop_last=True, prefetch=prefetch,
                        transform=transforms.study_preset("cifar10", jitter=True))
    rate = Rate()
    for _ in range(repeats):
        rate.measure(lambda: sum(len(labels) for _, labels in loader))
    return rate


def cases(batch_size: int, batches: int):
    """(name, step, batches) for every measured stage."""
    rng = np.random.default_rng(0)
    cifar = [rng.integers(0, 256, (batch_size, 3, 32, 32), dtype=np.uint8) for _ in range(batches)]
    sample = mnist_sample(train=True).images
    mnist = [sample[i * batch_size:(i + 1) * batch_size] for i in range(batches)]
    study = transforms.study_preset("cifar10", jitter=True)
    yield "cifar10 study+jitter pipeline", study, cifar
    yield "cifar10 study pipeline", transforms.study_preset("cifar10"), cifar
    for step in study.transforms:
        yield f"  cifar10 {type(step).__name__}", step, cifar
    yield "  cifar10 RandomCrop(32, padding=4)", transforms.RandomCrop(32, padding=4), cifar
    yield "mnist study+jitter pipeline", transforms.study_preset("mnist", jitter=True), mnist
    yield "mnist study pipeline", transforms.study_preset("mnist"), mnist


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batches", type=int, default=60)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args()

    rows = [(name, transform_rate(step, data)) for name, step, data in cases(args.batch_size, args.batches)]
    images = np.random.default_rng(1).integers(0, 256, (args.batch_size * args.batches, 3, 32, 32),
                                               dtype=np.uint8)
    dataset = ImageDataset(images, np.zeros(len(images), np.int64), ["x"])
    for prefetch in (0, 2):
        rows.append((f"DataLoader cifar10 study+jitter, prefetch={prefetch}",
                     loader_rate(dataset, args.batch_size, prefetch)))
    _print_table(rows, args.batch_size, args.batches)
    headline = rows[0][1]
    verdict = "meets" if headline.cpu >= TARGET_IMAGES_PER_S else "MISSES"
    print(f"\ncifar10 study+jitter: {headline.cpu:.0f} images per CPU-second on one core "
          f"({headline.wall:.0f} per wall-clock second) — {verdict} the {TARGET_IMAGES_PER_S} target")
    _write_json(args.out, rows, args, headline)


def _print_table(rows, batch_size: int, batches: int) -> None:
    print(f"batch size {batch_size}, {batches} batches, one core ({platform.machine()}), "
          f"best of repeats")
    print(f"{'stage':52s} {'img/s CPU':>10s} {'img/s wall':>11s} {'CPU ms/batch':>13s}")
    for name, rate in rows:
        print(f"{name:52s} {rate.cpu:10.0f} {rate.wall:11.0f} {1000 * batch_size / rate.cpu:13.2f}")


def _write_json(path: Path, rows, args, headline: Rate) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({
        "benchmark": "data_pipeline", "batch_size": args.batch_size, "batches": args.batches,
        "threads": 1, "numpy": np.__version__, "python": platform.python_version(),
        "machine": platform.machine(), "target_images_per_s": TARGET_IMAGES_PER_S,
        "meets_target": headline.cpu >= TARGET_IMAGES_PER_S,
        "results": [{"stage": name.strip(), "images_per_cpu_s": round(rate.cpu),
                     "images_per_wall_s": round(rate.wall)} for name, rate in rows],
    }, indent=2) + "\n")
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
