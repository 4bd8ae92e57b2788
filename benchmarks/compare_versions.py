"""Two versions of scratchgrad in one process: is a change faster, beyond this machine's drift?

    python benchmarks/compare_versions.py --ref HEAD~1                  # the working tree against HEAD~1
    python benchmarks/compare_versions.py --ref 8a59ecc --workloads small_cnn --steps 25

Step times on a shared machine move by 10-15% between runs minutes apart, more than most
changes are worth, so timing each version in its own run says little. Here the package as it
was at ``--ref`` is copied (``git archive``) into a temporary folder under another name
(``scratchgrad_ref``, its absolute imports rewritten), both versions and PyTorch build the
workload's model, and their steps alternate exactly as in ``engine_vs_torch.py`` (an untimed
lead-in step before each timed one, same medians). The table gives each median and the ratios current/ref and
each/torch. Only current/ref is the measurement: with two scratchgrad steps between its
steps PyTorch runs slower than in ``engine_vs_torch.py``, whose ratio to PyTorch is the one
to report. Writes ``benchmarks/results/compare_versions.json``.
"""
from __future__ import annotations

import argparse
import importlib
import json
import re
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import engine_vs_torch as bench

ROOT = Path(__file__).resolve().parent.parent
RESULTS = Path(__file__).parent / "results" / "compare_versions.json"
COPY = "scratchgrad_ref"


def import_ref(ref: str, folder: Path) -> Any:
    """scratchgrad as it was at git ``ref``, imported as ``scratchgrad_ref`` from ``folder``."""
    archive = subprocess.run(["git", "archive", ref, "src/scratchgrad"], cwd=ROOT, check=True, capture_output=True).stdout
    subprocess.run(["tar", "-x", "-C", str(folder)], input=archive, check=True)
    package = folder / COPY
    (folder / "src" / "scratchgrad").rename(package)
    pattern = re.compile(r"\b(from|import) scratchgrad\b")
    for path in package.rglob("*.py"):
        path.write_text(pattern.sub(rf"\1 {COPY}", path.read_text()))
    sys.path.insert(0, str(folder))
    return importlib.import_module(COPY)


def compare(ref_lib: Any, workload: str, steps: int) -> dict[str, Any]:
    import scratchgrad

    runs = {"torch": bench.build_on(bench.engine_module("torch"), workload)[1],
            "ref": bench.build_on(ref_lib, workload)[1],
            "current": bench.build_on(scratchgrad, workload)[1]}
    times = bench.alternate(runs, steps)
    medians = {name: statistics.median(values) for name, values in times.items()}
    return {"seconds": medians, "times": times,
            "current_over_ref": medians["current"] / medians["ref"],
            "current_over_torch": medians["current"] / medians["torch"],
            "ref_over_torch": medians["ref"] / medians["torch"]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--ref", required=True, help="git ref of the version to compare the working tree against")
    parser.add_argument("--workloads", default="resnet18,small_cnn", help=f"comma-separated, from {', '.join(bench.WORKLOADS)}")
    parser.add_argument("--steps", type=int, default=9, help="timed steps per version (default 9)")
    args = parser.parse_args()
    workloads = args.workloads.split(",")
    unknown = [w for w in workloads if w not in bench.WORKLOADS]
    if unknown:
        parser.error(f"--workloads: unknown {unknown}, expected names from {sorted(bench.WORKLOADS)}")
    with tempfile.TemporaryDirectory() as folder:
        try:
            ref_lib = import_ref(args.ref, Path(folder))
        except subprocess.CalledProcessError as error:
            parser.error(f"--ref: could not read src/scratchgrad at {args.ref!r}: {error.stderr.decode().strip()}")
        report = {"ref": args.ref, "steps": args.steps, "workloads": {w: compare(ref_lib, w, args.steps) for w in workloads}}
    print(f"median step seconds, {args.steps} alternated steps each; ref = {args.ref}")
    print(f"{'workload':>12} {'torch':>8} {'ref':>8} {'current':>8} {'cur/ref':>8} {'cur/torch':>9} {'ref/torch':>9}")
    for name, entry in report["workloads"].items():
        s = entry["seconds"]
        print(f"{name:>12} {s['torch']:8.3f} {s['ref']:8.3f} {s['current']:8.3f} {entry['current_over_ref']:8.3f} "
              f"{entry['current_over_torch']:9.3f} {entry['ref_over_torch']:9.3f}")
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(report, indent=2))
    print(f"wrote {RESULTS}")


if __name__ == "__main__":
    main()
