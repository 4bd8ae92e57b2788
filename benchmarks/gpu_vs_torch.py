"""Engine speed on a GPU: one training step of the study's CNNs, scratchgrad (CuPy) against PyTorch (CUDA).

    python benchmarks/gpu_vs_torch.py                          # every workload, 20 timed steps each
    python benchmarks/gpu_vs_torch.py --workloads c5l3_bn_32 --steps 50

The workloads, the step (forward + cross-entropy + backward + Adam, float32) and the
alternation of the two engines are those of ``engine_vs_torch.py``; each step here ends by
waiting for the GPU, so that its time is the GPU's work and not only the kernels' launches.
Both engines start from the same weights and take the same batch; after the steps the
table gives how far the two models' weights moved apart (max |difference|), a check that
both trained the same model: a wrong gradient moves them apart by the weights' own size,
float32 rounding (amplified by Adam's normalised steps) by orders of magnitude less.

Writes ``benchmarks/results/gpu_vs_torch.json``. Needs CuPy, a CUDA GPU and a CUDA build of PyTorch.
"""
from __future__ import annotations

import argparse
import json
import statistics
from pathlib import Path
from typing import Any, Callable

import numpy as np

from engine_vs_torch import WORKLOADS, alternate, training_flops

RESULTS = Path(__file__).parent / "results" / "gpu_vs_torch.json"


def build(lib: Any, workload: str, synchronize: Callable[[], None], weights: dict[str, Any] | None = None) -> tuple[Any, Callable[[], None]]:
    """``workload``'s model on the GPU with ``lib`` (torch or scratchgrad) and a function running one step."""
    from scratchgrad.models import build_model

    name, options, shape = WORKLOADS[workload]
    model = build_model(name, lib.nn, **options)
    if weights is not None:
        model.load_state_dict({k: lib.tensor(v) for k, v in weights.items()})
    model = model.to("cuda")
    rng = np.random.default_rng(0)
    x = lib.tensor(rng.standard_normal(shape, dtype=np.float32), device="cuda")
    y = lib.tensor(rng.integers(0, 10, shape[0]), device="cuda")
    optimizer = lib.optim.Adam(model.parameters(), lr=1e-3)

    def step() -> None:
        optimizer.zero_grad()
        lib.nn.functional.cross_entropy(model(x), y).backward()
        optimizer.step()
        synchronize()

    return model, step


def run(workloads: list[str], steps: int) -> dict[str, Any]:
    import torch

    import scratchgrad

    report: dict[str, Any] = {"device": torch.cuda.get_device_name(), "steps": steps, "workloads": {}}
    for workload in workloads:
        torch.manual_seed(0)
        torch_model, torch_step = build(torch, workload, torch.cuda.synchronize)
        weights = {k: v.detach().cpu().numpy().copy() for k, v in torch_model.state_dict().items()}
        scratch_model, scratch_step = build(scratchgrad, workload, scratchgrad.cuda.synchronize, weights)
        times = alternate({"torch": torch_step, "scratchgrad": scratch_step}, steps)
        ours, theirs = scratch_model.state_dict(), torch_model.state_dict()
        drift = max(float(np.abs(ours[k].cpu().numpy() - v.detach().cpu().numpy()).max()) for k, v in theirs.items())
        batch, flops = WORKLOADS[workload][2][0], training_flops(workload)
        entry: dict[str, Any] = {"batch": batch, "gflop_per_step": flops / 1e9, "step_times": times, "weight_drift": drift}
        for engine, values in times.items():
            median = statistics.median(values)
            entry[engine] = {"step_s": median, "images_per_s": batch / median, "tflops": flops / median / 1e12}
        entry["step_ratio"] = entry["scratchgrad"]["step_s"] / entry["torch"]["step_s"]
        report["workloads"][workload] = entry
    return report


def print_table(report: dict[str, Any]) -> None:
    print(f"\nOne training step on {report['device']}, float32, median of {report['steps']} alternated steps")
    print(f"{'workload':>11s} {'batch':>5s} {'torch ms':>9s} {'ours ms':>8s} {'ratio':>6s} {'torch img/s':>11s} "
          f"{'ours img/s':>10s} {'ours TF/s':>9s} {'weight drift':>12s}")
    for name, e in report["workloads"].items():
        print(f"{name:>11s} {e['batch']:5d} {e['torch']['step_s'] * 1e3:9.1f} {e['scratchgrad']['step_s'] * 1e3:8.1f} "
              f"{e['step_ratio']:6.2f} {e['torch']['images_per_s']:11.0f} {e['scratchgrad']['images_per_s']:10.0f} "
              f"{e['scratchgrad']['tflops']:9.2f} {e['weight_drift']:12.2e}")


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
