"""Engine speed on a GPU: one training step of the study's CNNs, scratchgrad (CuPy) against PyTorch (CUDA).

    python benchmarks/gpu_vs_torch.py                          # every workload, 20 timed steps each
    python benchmarks/gpu_vs_torch.py --workloads c5l3_bn_32 --steps 50

The workloads, the step (forward + cross-entropy + backward + Adam, float32) and the
alternation of the two engines are those of ``engine_vs_torch.py``; each step here ends by
waiting for the GPU, so that its time is the GPU's work and not only the kernels' launches.
Both engines start from the same weights and take the same batch; the table gives the
difference of their first step's losses, a check that both computed the same step (float32
rounding: ~1e-6; later steps drift further apart, as Adam's normalised steps turn rounding
differences in near-zero gradients into differences of a whole step).

Writes ``benchmarks/results/gpu_vs_torch.json``. Needs CuPy, a CUDA GPU and a CUDA build of PyTorch.
"""
from __future__ import annotations

import argparse
import json
import statistics
from pathlib import Path
from typing import Any, Callable

from engine_vs_torch import WORKLOADS, alternate, paired_models, training_flops

RESULTS = Path(__file__).parent / "results" / "gpu_vs_torch.json"


def synchronized(step: Callable[[], Any], synchronize: Callable[[], None], first_loss: list[float]) -> Callable[[], None]:
    """``step`` followed by a wait for the GPU; the first step's loss goes into ``first_loss``."""

    def run() -> None:
        loss = step()
        synchronize()
        if not first_loss:
            first_loss.append(loss.item())

    return run


def run(workloads: list[str], steps: int) -> dict[str, Any]:
    import torch

    import scratchgrad

    report: dict[str, Any] = {"device": torch.cuda.get_device_name(), "steps": steps, "workloads": {}}
    for workload in workloads:
        torch_step, scratch_step, _ = paired_models(workload, "cuda")
        losses: dict[str, list[float]] = {"torch": [], "scratchgrad": []}
        timed = {"torch": synchronized(torch_step, torch.cuda.synchronize, losses["torch"]),
                 "scratchgrad": synchronized(scratch_step, scratchgrad.cuda.synchronize, losses["scratchgrad"])}
        times = alternate(timed, steps)
        batch, flops = WORKLOADS[workload][2][0], training_flops(workload)
        entry: dict[str, Any] = {"batch": batch, "gflop_per_step": flops / 1e9, "step_times": times,
                                 "first_loss": {engine: values[0] for engine, values in losses.items()}}
        for engine, values in times.items():
            median = statistics.median(values)
            entry[engine] = {"step_s": median, "images_per_s": batch / median, "tflops": flops / median / 1e12}
        entry["step_ratio"] = entry["scratchgrad"]["step_s"] / entry["torch"]["step_s"]
        report["workloads"][workload] = entry
    return report


def print_table(report: dict[str, Any]) -> None:
    print(f"\nOne training step on {report['device']}, float32, median of {report['steps']} alternated steps")
    print(f"{'workload':>11s} {'batch':>5s} {'torch ms':>9s} {'ours ms':>8s} {'ratio':>6s} {'torch img/s':>11s} "
          f"{'ours img/s':>10s} {'ours TF/s':>9s} {'1st loss diff':>13s}")
    for name, e in report["workloads"].items():
        print(f"{name:>11s} {e['batch']:5d} {e['torch']['step_s'] * 1e3:9.1f} {e['scratchgrad']['step_s'] * 1e3:8.1f} "
              f"{e['step_ratio']:6.2f} {e['torch']['images_per_s']:11.0f} {e['scratchgrad']['images_per_s']:10.0f} "
              f"{e['scratchgrad']['tflops']:9.2f} {abs(e['first_loss']['scratchgrad'] - e['first_loss']['torch']):13.1e}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--workloads", default=",".join(WORKLOADS), help=f"comma-separated, from {', '.join(WORKLOADS)}")
    parser.add_argument("--steps", type=int, default=20, help="timed steps per engine")
    args = parser.parse_args()
    workloads = [w for w in args.workloads.split(",") if w]
    unknown = set(workloads) - set(WORKLOADS)
    if unknown:
        parser.error(f"unknown workloads {sorted(unknown)}; choose from {', '.join(WORKLOADS)}")
    report = run(workloads, args.steps)
    print_table(report)
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(report, indent=2))
    print(f"wrote {RESULTS}")


if __name__ == "__main__":
    main()
