"""Engine speed: one training step of the study's CNNs, scratchgrad against PyTorch, on the CPU.

    python benchmarks/engine_vs_torch.py                      # every workload, 7 timed steps each
    python benchmarks/engine_vs_torch.py --quick              # under a minute: 2 steps, no memory probes
    python benchmarks/engine_vs_torch.py --workloads small_cnn,c5l3_bn_28 --steps 9

A step is forward + cross-entropy + backward + Adam, in float32. Both engines get the same
weights, the same batch and the same threads (all cores); after ``WARMUP_STEPS`` steps each their
steps alternate (A A B B A A B B ..., the first of each pair untimed: see ``alternate``) so that
the drift of a shared machine hits both, and the table gives the medians. Effective GFLOP/s
counts the multiply-adds of direct convolution and of the Linear layers (forward, input
gradient except for the first layer, weight gradient), so an engine that does fewer
multiplies (Winograd) can exceed the NumPy matmul rate measured in the same run.

The table also gives each engine's page faults per timed step (the process's minor faults): the
C library hands freed memory back to the system and the next step faults it in again, ~3 us a
4 KB page on this virtual machine, so the counts explain much of the two engines' run-to-run drift.

Peak memory is the peak resident set size (``VmHWM`` in /proc/self/status) of a fresh subprocess
per engine and workload, which imports only that engine, builds the model and runs the steps;
"step" memory subtracts the resident size measured just before the first step (interpreter,
libraries, model and optimizer), i.e. what the training step itself needs at its peak.

The scratchgrad breakdown times three extra steps with every ``Function``'s forward and
backward wrapped by an exclusive timer (a nested Function's time counts once, for the
innermost), by op family, and gives the median of each family; "autograd + python" is the rest
of the step: the graph walk, tensor bookkeeping and module calls.

Writes ``benchmarks/results/engine_vs_torch.json``.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import time
from collections import defaultdict
from pathlib import Path
from typing import Any, Callable

import numpy as np

RESULTS = Path(__file__).parent / "results" / "engine_vs_torch.json"
WORKLOADS: dict[str, tuple[str, dict[str, Any], tuple[int, int, int, int]]] = {
    "c5l3_bn_32": ("c5l3", {"batchnorm": True, "in_channels": 3, "input_size": 32}, (64, 3, 32, 32)),
    "c5l3_bn_28": ("c5l3", {"batchnorm": True, "in_channels": 1, "input_size": 28}, (64, 1, 28, 28)),
    "resnet18": ("resnet18", {"in_channels": 3, "input_size": 32}, (64, 3, 32, 32)),
    "small_cnn": ("small_cnn", {"in_channels": 1, "input_size": 28}, (128, 1, 28, 28)),
    # small batches (issue 19): per-op Python and threading overhead, not the multiplies
    "small_cnn_b2": ("small_cnn", {"in_channels": 1, "input_size": 28}, (2, 1, 28, 28)),
    "small_cnn_b16": ("small_cnn", {"in_channels": 1, "input_size": 28}, (16, 1, 28, 28)),
    # the results' Fashion-MNIST recipe (experiments/fashion-mnist-3-cpu.toml): width 0.25, batch 64
    "c5l3_bn_28_w025": ("c5l3", {"batchnorm": True, "in_channels": 1, "input_size": 28, "width": 0.25, "fc_dropout": 0.3},
                        (64, 1, 28, 28)),
    # time_to_accuracy.py's fast and short recipes: width 0.5, batch 256
    "small_cnn_w05_b256": ("small_cnn", {"in_channels": 1, "input_size": 28, "width": 0.5}, (256, 1, 28, 28)),
}
TARGETS = {"step_ratio": 1.0, "matmul_fraction": 0.70, "memory_ratio": 1.5}
PROFILED_STEPS = 3
WARMUP_STEPS = 7  # 1 + 2 x scratchgrad.runtime.threads.TRIALS: AUTOTUNE's untimed call and its trials
THREADS = {"count": os.cpu_count() or 1}  # both engines' threads; --threads sets it


def set_threads(count: int) -> None:
    THREADS["count"] = count
    import scratchgrad
    import torch

    torch.set_num_threads(count)
    scratchgrad.set_num_threads(count)


# ------------------------------------------------------------------ the two engines
def engine_module(engine: str) -> Any:
    if engine == "torch":
        import torch

        return torch
    import scratchgrad

    return scratchgrad


def build(engine: str, workload: str, seed: int = 0, device: str = "cpu") -> tuple[Any, Callable[[], Any], Any]:
    """The model of ``workload`` on ``engine``, a function running one training step (it returns
    the loss), and its optimizer."""
    return build_on(engine_module(engine), workload, seed, device)


def build_on(lib: Any, workload: str, seed: int = 0, device: str = "cpu") -> tuple[Any, Callable[[], Any], Any]:
    """``build`` with the engine given as its module (torch, scratchgrad or a copy of it)."""
    from scratchgrad.lab.step import train_step
    from scratchgrad.models import build_model

    name, options, shape = WORKLOADS[workload]
    model = build_model(name, lib.nn, **options).to(device)
    rng = np.random.default_rng(seed)
    x = lib.tensor(rng.standard_normal(shape, dtype=np.float32), device=device)
    y = lib.tensor(rng.integers(0, 10, shape[0]), device=device)
    optimizer = lib.optim.Adam(model.parameters(), lr=1e-3)

    def step() -> Any:
        return train_step(model, optimizer, lib.nn.functional.cross_entropy, x, y)[0]

    return model, step, optimizer


def paired_models(workload: str, device: str = "cpu") -> tuple[Callable[[], Any], Callable[[], Any], Any]:
    """Both engines' training steps (the scratchgrad model holds the torch model's weights) and scratchgrad's optimizer."""
    import scratchgrad

    torch_model, torch_step, _ = build("torch", workload, device=device)
    scratch_model, scratch_step, optimizer = build("scratch", workload, device=device)
    scratch_model.load_state_dict({k: scratchgrad.tensor(v.detach().cpu().numpy().copy()) for k, v in torch_model.state_dict().items()})
    return torch_step, scratch_step, optimizer


def training_flops(workload: str) -> float:
    """Multiply-adds x 2 of a training step by direct convolution: 3 products per layer but
    no input gradient for the first one."""
    import torch

    from scratchgrad.models import build_model

    name, options, shape = WORKLOADS[workload]
    model = build_model(name, torch.nn, **options)
    forward = []

    def count(module: Any, inputs: Any, output: Any) -> None:
        if isinstance(module, torch.nn.Conv2d):
            forward.append(2 * output.numel() * module.in_channels // module.groups * module.kernel_size[0] * module.kernel_size[1])
        elif isinstance(module, torch.nn.Linear):
            forward.append(2 * output.numel() * module.in_features)

    for module in model.modules():
        module.register_forward_hook(count)
    with torch.no_grad():
        model(torch.zeros(shape))
    return 3 * sum(forward) - forward[0]


def matmul_rate(size: int = 2048, repeats: int = 5) -> float:
    """NumPy float32 matrix product, GFLOP/s (best of ``repeats``)."""
    a, b = (np.random.default_rng(i).standard_normal((size, size), dtype=np.float32) for i in range(2))
    a @ b
    best = min(_timed(lambda: a @ b) for _ in range(repeats))
    return 2 * size**3 / best / 1e9


def _timed(fn: Callable[[], Any]) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


# ------------------------------------------------------------------ measurements
def alternate(steps: dict[str, Callable[[], Any]], count: int,
              faults: dict[str, list[int]] | None = None) -> dict[str, list[float]]:
    """Warm-up steps for each, then ``count`` rounds in which each engine in turn runs an
    untimed lead-in step and a timed one, back to back, as in a training loop.

    The lead-in step absorbs what the other engine leaves behind: its worker threads spin for
    a while after their last parallel call (OpenBLAS's for up to ~0.1 s, OpenMP's too), which
    would slow this engine's first step. Pausing instead (0.3 s before each timed step, up to
    session 3) measured a state no training loop is in: on this virtual machine a thread pool
    that sleeps between kernels then ran its first ~30 ms on one core (scratchgrad's small-CNN
    step 63 ms back to back, 83-85 ms after a 0.3 s pause, 64 ms after 0.05 s; PyTorch's
    OpenMP threads, which spin between kernels, 56 and 58 ms).

    ``faults``, if given, receives each timed step's page faults (minor faults of the process).
    The warm-up is ``WARMUP_STEPS`` steps each: enough for scratchgrad's ``threads.AUTOTUNE``
    to finish timing its kernels both ways, as it has after the first steps of any training run.
    """
    for step in steps.values():
        for _ in range(WARMUP_STEPS):
            step()
    times: dict[str, list[float]] = {name: [] for name in steps}
    for _ in range(count):
        for name, step in steps.items():
            step()
            before = _page_faults()
            times[name].append(_timed(step))
            if faults is not None:
                faults.setdefault(name, []).append(_page_faults() - before)
    return times


def _page_faults() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_minflt


def breakdown(step: Callable[[], Any], optimizer: Any) -> dict[str, float]:
    """Seconds per op family in one scratchgrad step (exclusive times; see the module docstring)."""
    from scratchgrad.autograd.function import Function

    totals: dict[str, float] = defaultdict(float)
    stack: list[list[Any]] = []  # per open call: [child seconds, inside a backward]

    def timed(fn: Callable[..., Any], family: str, backward: bool) -> Callable[..., Any]:
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            in_backward = backward or bool(stack and stack[-1][1])
            stack.append([0.0, in_backward])
            start = time.perf_counter()
            try:
                return fn(*args, **kwargs)
            finally:
                elapsed = time.perf_counter() - start
                key = family if family == "optimizer" else f"{family} {'bwd' if in_backward else 'fwd'}"
                totals[key] += elapsed - stack.pop()[0]
                if stack:
                    stack[-1][0] += elapsed
        return wrapper

    step()  # a lead-in step, untimed, as in ``alternate``
    patched = []
    for cls in _subclasses(Function):
        for phase in ("forward", "backward"):
            if phase in vars(cls):
                patched.append((cls, phase, vars(cls)[phase]))
                setattr(cls, phase, staticmethod(timed(getattr(cls, phase), _family(cls), phase == "backward")))
    optimizer_step = optimizer.step
    optimizer.step = timed(optimizer_step, "optimizer", False)
    try:
        total = _timed(step)
    finally:
        for cls, phase, original in patched:
            setattr(cls, phase, original)
        optimizer.step = optimizer_step
    result = dict(sorted(totals.items(), key=lambda item: -item[1]))
    result["autograd + python"] = total - sum(totals.values())
    result["total"] = total
    return result


def _subclasses(cls: type) -> list[type]:
    found = []
    for sub in cls.__subclasses__():
        found += [sub] + _subclasses(sub)
    return found


def _family(cls: type) -> str:
    module = cls.__module__.rsplit(".", 1)[-1]
    return {"conv": "conv", "pool": "pool", "norm": "batchnorm", "loss_functions": "loss", "matmul": "matmul"}.get(module, module)


def probe_memory(engine: str, workload: str, steps: int) -> dict[str, float]:
    """Run in a fresh interpreter: peak RSS of ``steps`` training steps and RSS before them."""
    command = [sys.executable, __file__, "--probe", engine, workload, "--steps", str(steps), "--threads", str(THREADS["count"])]
    output = subprocess.run(command, check=True, capture_output=True, text=True).stdout
    return json.loads(output.strip().splitlines()[-1])


def _probe(engine: str, workload: str, steps: int) -> None:
    _, step, _ = build(engine, workload)
    before = _status_mb("VmRSS")
    for _ in range(steps):
        step()
    peak = _status_mb("VmHWM")
    print(json.dumps({"peak_mb": peak, "before_steps_mb": before, "step_mb": peak - before}))


def _status_mb(field: str) -> float:
    """VmRSS (resident now) or VmHWM (peak resident) of this process. Unlike getrusage's
    ru_maxrss, VmHWM does not inherit the parent's peak across fork and exec."""
    with open("/proc/self/status") as status:
        line = next(line for line in status if line.startswith(field + ":"))
    return int(line.split()[1]) / 1024


# ------------------------------------------------------------------ single conv layers
LAYERS = [  # (label, batch, C_in, side, C_out, kernel, stride)
    ("C5L3 conv2", 64, 128, 16, 256, 3, 1), ("C5L3 conv4", 64, 512, 8, 512, 3, 1), ("C5L3-28 conv4", 64, 512, 7, 512, 3, 1),
    ("ResNet18 layer1", 64, 64, 32, 64, 3, 1), ("ResNet18 layer2", 64, 128, 16, 128, 3, 1),
    ("ResNet18 layer3", 64, 256, 8, 256, 3, 1), ("ResNet18 layer4", 64, 512, 4, 512, 3, 1),
    ("ResNet18 down 3x3", 64, 64, 32, 128, 3, 2), ("ResNet18 down 1x1", 64, 64, 32, 128, 1, 2),
    ("small CNN conv1", 128, 1, 28, 32, 3, 1), ("small CNN conv2", 128, 32, 14, 64, 3, 1),
]


def layer_times(repeats: int = 5) -> list[dict[str, Any]]:
    """Forward + backward (input and weight gradients) of single conv layers, median ms per engine.

    scratchgrad's input is laid out as a conv output is (see ``ops/conv.py``); the first layer of
    a network gets no input gradient, as in training.
    """
    import scratchgrad
    import torch

    rng, rows = np.random.default_rng(0), []
    for label, batch, c_in, side, c_out, kernel, stride in LAYERS:
        x = rng.standard_normal((batch, c_in, side, side), dtype=np.float32)
        w = rng.standard_normal((c_out, c_in, kernel, kernel), dtype=np.float32) / float(np.sqrt(c_in * kernel * kernel))
        padding, first = kernel // 2, c_in == 1
        tx, tw = torch.tensor(x, requires_grad=not first), torch.tensor(w, requires_grad=True)
        sx = scratchgrad.tensor(np.ascontiguousarray(x.transpose(2, 3, 0, 1))).permute(2, 3, 0, 1).requires_grad_(not first)
        sw = scratchgrad.tensor(w, requires_grad=True)
        side_out = (side + 2 * padding - kernel) // stride + 1
        grad = rng.standard_normal((batch, c_out, side_out, side_out), dtype=np.float32)
        tg, sg = torch.tensor(grad), scratchgrad.tensor(np.ascontiguousarray(grad.transpose(2, 3, 0, 1))).permute(2, 3, 0, 1)
        steps = {
            "torch": lambda: torch.nn.functional.conv2d(tx, tw, stride=stride, padding=padding).backward(tg),
            "scratchgrad": lambda: scratchgrad.nn.functional.conv2d(sx, sw, stride=stride, padding=padding).backward(sg),
        }
        times = alternate(steps, repeats)
        rows.append({"layer": label, "shape": [batch, c_in, side, c_out, kernel, stride],
                     **{engine: statistics.median(values) * 1e3 for engine, values in times.items()}})
        print(f"{label:18s} {c_in:3d} -> {c_out:3d} at {side:2d}x{side:<2d} k{kernel} s{stride}: "
              f"torch {rows[-1]['torch']:6.1f} ms, scratchgrad {rows[-1]['scratchgrad']:6.1f} ms", flush=True)
    return rows


# ------------------------------------------------------------------ report
def run(workloads: list[str], steps: int, memory: bool, profile: bool) -> dict[str, Any]:
    rate = matmul_rate()
    report: dict[str, Any] = {
        "machine": {
            "platform": platform.platform(), "processor": platform.processor(), "cpus": os.cpu_count(), "threads": THREADS["count"],
            "environment": {k: v for k, v in os.environ.items() if k.startswith(("OPENBLAS", "OMP", "MKL", "MALLOC"))},
        },
        "numpy_matmul_gflops": rate, "steps": steps, "targets": TARGETS, "workloads": {},
    }
    for workload in workloads:
        torch_step, scratch_step, optimizer = paired_models(workload)
        faults: dict[str, list[int]] = {}
        times = alternate({"torch": torch_step, "scratchgrad": scratch_step}, steps, faults)
        batch, flops = WORKLOADS[workload][2][0], training_flops(workload)
        entry: dict[str, Any] = {"batch": batch, "gflop_per_step": flops / 1e9, "step_times": times}
        for engine, values in times.items():
            median = statistics.median(values)
            entry[engine] = {"step_s": median, "images_per_s": batch / median, "gflops": flops / median / 1e9,
                             "page_faults_per_step": statistics.median(faults[engine])}
        entry["step_ratio"] = entry["scratchgrad"]["step_s"] / entry["torch"]["step_s"]
        entry["matmul_fraction"] = entry["scratchgrad"]["gflops"] / rate
        if profile:  # per family, the median of a few profiled steps (one step can catch a stall)
            runs = [breakdown(scratch_step, optimizer) for _ in range(PROFILED_STEPS)]
            entry["scratchgrad_breakdown_s"] = {k: statistics.median(r.get(k, 0.0) for r in runs) for k in runs[0]}
        del torch_step, scratch_step, optimizer
        if memory:
            for engine in ("torch", "scratchgrad"):
                entry[engine]["memory"] = probe_memory("scratch" if engine == "scratchgrad" else "torch", workload, 2)
            entry["memory_ratio"] = entry["scratchgrad"]["memory"]["peak_mb"] / entry["torch"]["memory"]["peak_mb"]
        report["workloads"][workload] = entry
        print(f"{workload}: torch {entry['torch']['step_s']:.3f} s/step, scratchgrad {entry['scratchgrad']['step_s']:.3f} s/step", flush=True)
    return report


COLUMNS = [  # header, width, value of a workload's entry
    ("workload", 11, lambda name, e: name),
    ("batch", 5, lambda name, e: f"{e['batch']}"),
    ("GFLOP", 6, lambda name, e: f"{e['gflop_per_step']:.1f}"),
    ("torch s", 7, lambda name, e: f"{e['torch']['step_s']:.3f}"),
    ("ours s", 7, lambda name, e: f"{e['scratchgrad']['step_s']:.3f}"),
    ("ratio", 5, lambda name, e: f"{e['step_ratio']:.2f}"),
    ("torch img/s", 11, lambda name, e: f"{e['torch']['images_per_s']:.0f}"),
    ("ours img/s", 10, lambda name, e: f"{e['scratchgrad']['images_per_s']:.0f}"),
    ("torch GF/s", 10, lambda name, e: f"{e['torch']['gflops']:.0f}"),
    ("ours GF/s", 9, lambda name, e: f"{e['scratchgrad']['gflops']:.0f}"),
    ("of matmul", 9, lambda name, e: f"{e['matmul_fraction']:.0%}"),
    ("torch faults", 12, lambda name, e: f"{e['torch']['page_faults_per_step']:.0f}"),
    ("ours faults", 11, lambda name, e: f"{e['scratchgrad']['page_faults_per_step']:.0f}"),
    ("torch MB", 8, lambda name, e: _memory(e, "torch")),
    ("ours MB", 8, lambda name, e: _memory(e, "scratchgrad")),
    ("mem ratio", 9, lambda name, e: f"{e['memory_ratio']:.2f}" if "memory_ratio" in e else "-"),
]
BREAKDOWN_ROWS = {  # table row: op families of ``breakdown``
    "conv forward": ["conv fwd"], "conv backward": ["conv bwd"], "batchnorm": ["batchnorm fwd", "batchnorm bwd"],
    "pooling": ["pool fwd", "pool bwd"], "elementwise": ["elementwise fwd", "elementwise bwd"],
    "linear + loss + other ops": None, "optimizer": ["optimizer"], "autograd + python": ["autograd + python"], "total": ["total"],
}


def _memory(entry: dict[str, Any], engine: str) -> str:
    memory = entry[engine].get("memory")
    return "-" if memory is None else f"{memory['peak_mb']:.0f}"


def print_tables(report: dict[str, Any]) -> None:
    workloads = report["workloads"]
    print(f"\nOne training step (forward, cross-entropy, backward, Adam), float32, {report['machine']['threads']} threads, "
          f"median of {report['steps']} alternated steps; "
          f"NumPy matmul {report['numpy_matmul_gflops']:.0f} GFLOP/s; peak MB = peak resident memory of a fresh process")
    print("  ".join(header.rjust(width) for header, width, _ in COLUMNS))
    for name, entry in workloads.items():
        print("  ".join(value(name, entry).rjust(width) for _, width, value in COLUMNS))
    profiled = {name: e["scratchgrad_breakdown_s"] for name, e in workloads.items() if "scratchgrad_breakdown_s" in e}
    if not profiled:
        return
    print("\nscratchgrad step by op family, ms (median of %d profiled steps)" % PROFILED_STEPS)
    print(f"{'':26s}" + "".join(f"{name:>12s}" for name in profiled))
    named = {family for families in BREAKDOWN_ROWS.values() if families for family in families}
    for row, families in BREAKDOWN_ROWS.items():
        cells = []
        for times in profiled.values():
            keys = families if families is not None else [k for k in times if k not in named]
            cells.append(sum(times.get(k, 0.0) for k in keys) * 1e3)
        print(f"{row:26s}" + "".join(f"{ms:12.0f}" for ms in cells))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--workloads", default=",".join(WORKLOADS), help=f"comma-separated, from {', '.join(WORKLOADS)}")
    parser.add_argument("--steps", type=int, default=None, help="timed steps per engine (default 7, 2 with --quick)")
    parser.add_argument("--quick", action="store_true", help="2 steps, no memory probes, no breakdown")
    parser.add_argument("--layers", action="store_true", help="also time single conv layers of the workloads (forward + backward)")
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 1, help="threads of both engines (default: all cores)")
    parser.add_argument("--probe", nargs=2, metavar=("ENGINE", "WORKLOAD"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    steps = args.steps or (2 if args.quick else 7)
    if args.threads < 1:
        parser.error(f"--threads: expected an int >= 1, got {args.threads}")
    set_threads(args.threads)
    if args.probe:
        return _probe(*args.probe, steps)
    workloads = [w for w in args.workloads.split(",") if w]
    unknown = set(workloads) - set(WORKLOADS)
    if unknown:
        parser.error(f"unknown workloads {sorted(unknown)}; choose from {', '.join(WORKLOADS)}")
    report = run(workloads, steps, memory=not args.quick, profile=not args.quick)
    print_tables(report)
    if args.layers:
        print("\nsingle conv layers, forward + backward, median ms")
        report["layers"] = layer_times()
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(report, indent=2))
    print(f"wrote {RESULTS}")


if __name__ == "__main__":
    main()
