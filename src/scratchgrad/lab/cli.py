"""The ``scratchgrad`` command line.

Each subcommand is one ``add_<name>(subparsers)`` function that declares its arguments
and sets ``handler`` to the function that runs it; ``SUBCOMMANDS`` lists them. To add
one, write the pair and append the ``add_`` function to ``SUBCOMMANDS``.
"""
from __future__ import annotations

import argparse
import errno
import os
import sys
from collections.abc import Callable, Sequence
from typing import Any

from scratchgrad.data.preview import PRESETS
from scratchgrad.lab.config import DEVICES, ENGINES as ENGINE_NAMES, ConfigError
from scratchgrad.lab.trainer import EXIT_INTERRUPTED
from scratchgrad.models import MODEL_NAMES

EXIT_USAGE_OR_DATA_ERROR = 2
MAX_INPUT_SIDE, MAX_INPUT_CHANNELS = 512, 64  # summary --input: the model's layers are sized from it
# What an OSError means for the user, by errno; any other OSError is a bug and keeps its traceback.
OS_ERROR_HINTS = {
    errno.ENOSPC: "the disk is full: free some space and run the command again (a run continues from its last "
                  "checkpoint with `scratchgrad train --resume RUN_DIR`)",
    errno.EDQUOT: "the disk quota is exceeded: free some space and run the command again",
    errno.EACCES: "permission denied: check the permissions, or choose another location",
    errno.EPERM: "operation not permitted: check the permissions, or choose another location",
    errno.EROFS: "the file system is read-only: choose another location",
    errno.ENOENT: "no such file or directory",
    errno.EISDIR: "is a directory; expected a file",
    errno.ENOTDIR: "a part of the path is not a directory",
    errno.EEXIST: "already exists",
    errno.ENAMETOOLONG: "the file name is too long",
    errno.EFBIG: "the file is too large for the file system",
}


def add_augment_preview(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "augment-preview", help="save a grid of original and augmented images",
        description="Save a PNG of originals beside augmented versions (the study's Figures 1 and 8).")
    parser.add_argument("--dataset", required=True,
                        choices=("mnist", "fashion-mnist", "cifar10", "mnist-sample"))
    parser.add_argument("--preset", default="study", choices=PRESETS)
    parser.add_argument("--root", default=None, help="folder holding the dataset (searched first)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("-o", "--output", required=True, help="PNG file to write")
    parser.set_defaults(handler=run_augment_preview)


def run_augment_preview(args: argparse.Namespace) -> int:
    from scratchgrad.data.preview import augment_preview

    path = augment_preview(args.dataset, args.output, preset=args.preset, root=args.root,
                           seed=args.seed)
    print(f"wrote {path}")
    return 0


def _add_set(parser: argparse.ArgumentParser, what: str = "config") -> None:
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                        help=f"override a {what} key; dotted keys address tables (optim.lr=0.01); repeatable")


def add_train(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "train", help="train a model from a config file, or resume a run",
        description="Train CONFIG in a new run directory, or continue one with --resume RUN_DIR.")
    parser.add_argument("config", nargs="?", help="TOML config file (see experiments/)")
    parser.add_argument("--resume", metavar="RUN_DIR", help="continue this run from its last saved state")
    parser.add_argument("--engine", choices=ENGINE_NAMES, help="same as --set engine=...")
    parser.add_argument("--device", choices=DEVICES, help="same as --set device=...")
    parser.add_argument("--out", help="run directory (default: runs/<name>)")
    parser.add_argument("--restart", action="store_true",
                        help="with --resume: train the run again from epoch 0 (discards its metrics and weights)")
    parser.add_argument("--nproc", type=int, default=1, metavar="N",
                        help="train data-parallel on N local processes (a torchrun-style launch needs none)")
    _add_set(parser)
    parser.set_defaults(handler=run_train)


def run_train(args: argparse.Namespace) -> int:
    from scratchgrad.lab.distributed import launch, process_group

    if args.nproc != 1:
        return launch(args.nproc, run_command, args)
    with process_group() as group:  # one process, unless started by --nproc or torchrun
        return _train_or_resume(args, group)


def _train_or_resume(args: argparse.Namespace, group: Any) -> int:
    from scratchgrad.lab.config import load_config
    from scratchgrad.lab.sweep import PARENT_PID, stop_with_parent
    from scratchgrad.lab.train import resume, train

    overrides = [f"{key}={value}" for key in ("engine", "device") if (value := getattr(args, key))]
    overrides += args.overrides
    if os.environ.get(PARENT_PID):
        stop_with_parent()
    if args.resume:
        if args.config or args.out or args.engine or args.device:
            raise ConfigError("train --resume RUN_DIR takes no CONFIG, --out, --engine or --device: "
                              "the run keeps its own (only --set epochs=N may extend it)")
        return resume(args.resume, args.overrides, restart=args.restart, group=group)
    if not args.config:
        raise ConfigError("train: give a CONFIG file, or --resume RUN_DIR")
    if args.restart:
        raise ConfigError("train: --restart goes with --resume RUN_DIR")
    return train(load_config(args.config, overrides), args.out, config_file=args.config, group=group)


def add_sweep(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "sweep", help="run several configs, one process each",
        description="Run each CONFIG (for each seed) in its own process under ROOT/<name>; "
                    "running the same sweep again skips finished runs and resumes unfinished ones.")
    parser.add_argument("configs", nargs="+", metavar="CONFIG")
    parser.add_argument("--jobs", type=int, default=1, help="runs at the same time (default 1)")
    parser.add_argument("--seeds", type=int, nargs="+", metavar="SEED", help="run every config with each seed")
    parser.add_argument("--root", default="runs", help="where the run directories go (default runs/; with "
                        "--ray on several machines, a path every node mounts)")
    parser.add_argument("--ray", nargs="?", const="local", metavar="ADDRESS",
                        help="run each run as a Ray task: on a new local Ray instance, or on the cluster at ADDRESS "
                             "('auto', HOST:PORT, ray://HOST:10001); needs pip install 'scratchgrad[ray]'")
    parser.add_argument("--cpus-per-run", type=float, default=1, metavar="N", help="with --ray: CPUs a run reserves")
    parser.add_argument("--max-retries", type=int, default=3, metavar="N",
                        help="with --ray: runs again a run whose worker died, up to N times (it resumes)")
    _add_set(parser, "config (every run's)")
    parser.set_defaults(handler=run_sweep)


def run_sweep(args: argparse.Namespace) -> int:
    from scratchgrad.lab.sweep import plan, sweep

    jobs = plan(args.configs, args.root, args.seeds, args.overrides)
    if args.ray is None:
        return sweep(jobs, args.jobs)
    if args.jobs != 1:
        raise ConfigError("sweep: --jobs goes without --ray; on Ray the cluster's CPUs over --cpus-per-run decide "
                          "how many runs go at once")
    from scratchgrad.lab.ray_sweep import ray_sweep

    return ray_sweep(jobs, args.ray, args.cpus_per_run, args.max_retries)


def add_report(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "report", help="tabulate runs (Markdown) and plot their curves",
        description="Write the study's Table 1 for RUN_DIRs (mean ± std over seeds) and a figure of their curves.")
    parser.add_argument("runs", nargs="+", metavar="RUN_DIR")
    parser.add_argument("-o", "--output", default="report.md", help="Markdown file (the figure goes beside it)")
    parser.add_argument("--csv", metavar="FILE", help="also write one CSV row per run (e.g. results/runs.csv)")
    parser.add_argument("--archive", metavar="DIR", help="first copy each run's config.toml, metrics.csv and log.txt "
                        "to DIR/<engine>/<run> (small files to commit), and report from those copies")
    parser.add_argument("--contrast", action="append", default=[], metavar="LABEL=NAME:BASE",
                        help="also tabulate the setting NAME minus the setting BASE (run names without the seed), "
                        "paired by seed, mean ± std; repeatable")
    parser.set_defaults(handler=run_report)


def run_report(args: argparse.Namespace) -> int:
    from scratchgrad.lab.report import archive, report

    contrasts = [parse_contrast(text) for text in args.contrast]
    runs = archive(args.runs, args.archive) if args.archive else args.runs
    figure = report(runs, args.output, csv_out=args.csv, contrasts=contrasts)
    print(f"wrote {args.output}" + (f", {figure}" if figure else "") + (f", {args.csv}" if args.csv else ""))
    return 0


def parse_contrast(text: str) -> tuple[str, str, str]:
    """``LABEL=NAME:BASE`` -> (label, name, base)."""
    label, _, pair = text.partition("=")
    name, _, base = pair.partition(":")
    if not (label and name and base) or ":" in base:
        raise ConfigError(f"report --contrast: expected LABEL=NAME:BASE (e.g. 'BatchNorm=fashion-mnist-5-cpu:"
                          f"fashion-mnist-1-cpu'), got {text!r}")
    return label, name, base


def add_compare(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "compare", help="train a config on both engines side by side and compare the losses",
        description="Both engines from the same initial weights (torch's) on the same batches, dropout off: "
                    "the loss of every step on each and the largest gradient difference.")
    parser.add_argument("config", help="TOML config file")
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--rtol", type=float, default=1e-4, help="largest relative loss difference accepted")
    parser.add_argument("--dtype", choices=("float32", "float64"), default="float32")
    _add_set(parser)
    parser.set_defaults(handler=run_compare)


def run_compare(args: argparse.Namespace) -> int:
    from scratchgrad.lab.compare import compare
    from scratchgrad.lab.config import load_config

    return compare(load_config(args.config, args.overrides), args.steps, args.rtol, args.dtype)


def add_demo(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "demo", help="train a small CNN on the shipped MNIST sample (a minute or two on a CPU)",
        description="Train small_cnn on the MNIST sample shipped in the package with the scratch engine.")
    parser.add_argument("--out", help="run directory (default: runs/demo)")
    parser.set_defaults(handler=run_demo)


def run_demo(args: argparse.Namespace) -> int:
    from scratchgrad.lab.demo import demo

    return demo(args.out)


def add_summary(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "summary", help="print a model's layer table (shapes, parameters, FLOPs, memory)",
        description="Build MODEL with scratchgrad.nn and print tools.summary for one input.")
    parser.add_argument("model", help=f"{', '.join(MODEL_NAMES)}, or a package.module:builder of your own")
    parser.add_argument("--input", metavar="C,H,W", help="input shape without the batch (default: the model's)")
    parser.add_argument("--num-classes", type=int, default=10)
    _add_set(parser, "model option (e.g. width=0.5)")
    parser.set_defaults(handler=run_summary)


def run_summary(args: argparse.Namespace) -> int:
    import scratchgrad.nn as nn
    from scratchgrad.lab.config import model_schema, parse_override
    from scratchgrad.models import build_model, input_shape
    from scratchgrad.tools import summary

    try:
        schema = model_schema(args.model)
        channels, height, width = input_shape(args.model) if args.input is None else _shape(args.input)
    except ValueError as error:  # an unknown model, or a user's without a default input shape
        raise ConfigError(str(error)) from None
    options = {}
    for text in args.overrides:
        keys, value = parse_override(text)
        if len(keys) != 1 or keys[0] not in schema or keys[0] == "name":
            raise ConfigError(f"--set {text}: {args.model} options are {', '.join(list(schema)[1:]) or 'none'}")
        options[keys[0]] = schema[keys[0]].check(keys[0], value)
    if height != width:
        raise ConfigError(f"--input {args.input}: the models take square images (H = W)")
    try:
        model = build_model(args.model, nn, in_channels=channels, input_size=height, num_classes=args.num_classes,
                            **options)
    except ValueError as error:
        raise ConfigError(str(error)) from None
    print(summary(model, (1, channels, height, width)))
    return 0


def _shape(text: str) -> tuple[int, int, int]:
    try:
        channels, height, width = (int(part) for part in text.split(","))
    except ValueError:
        raise ConfigError(f"--input {text!r}: expected C,H,W, e.g. 3,32,32") from None
    if not (1 <= channels <= MAX_INPUT_CHANNELS and 1 <= height <= MAX_INPUT_SIDE and 1 <= width <= MAX_INPUT_SIDE):
        raise ConfigError(f"--input {text}: expected 1 <= C <= {MAX_INPUT_CHANNELS} and 1 <= H, W <= "
                          f"{MAX_INPUT_SIDE} (the model's layers are sized from the input)")
    return channels, height, width


def add_config(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "config", help="show every config key: type, value, default, allowed values and help",
        description="config show [FILE]: every key of FILE's config (or of the defaults) with its type, value "
                    "(and default where it differs), allowed values and help; the [model] keys are the model's.")
    actions = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
    show = actions.add_parser("show", help="print the config's keys")
    show.add_argument("config", nargs="?", help="TOML config file (default: the defaults)")
    _add_set(show)
    parser.set_defaults(handler=run_config)


def run_config(args: argparse.Namespace) -> int:
    from scratchgrad.lab.schema import show

    print(show(args.config, args.overrides))
    return 0


def add_evaluate(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "evaluate", help="accuracy, loss, confusion matrix and per-class accuracy of a run or weights file",
        description="Evaluate a run's best.safetensors (or a weights file) in eval mode under no_grad, as the "
                    "trainer does after each epoch.")
    parser.add_argument("target", metavar="RUN_OR_WEIGHTS", help="run directory, or a .safetensors file")
    parser.add_argument("--split", choices=("test", "val"), default="test",
                        help="val: the split data.val_split holds out of the training set")
    parser.add_argument("--config", help="config of the weights (default: the run's config.toml)")
    parser.add_argument("--json", metavar="FILE", help="also write the results as JSON")
    _add_set(parser)
    parser.set_defaults(handler=run_evaluate)


def run_evaluate(args: argparse.Namespace) -> int:
    from scratchgrad.lab.evaluate import evaluate, table, write_json

    result = evaluate(args.target, args.split, args.config, args.overrides)
    print(table(result))
    if args.json:
        write_json(result, args.json)
        print(f"wrote {args.json}")
    return 0


def add_export(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "export", help="write a run's weights as a PyTorch state dict (.pt)",
        description="Write RUN's best.safetensors (or a weights file's tensors) as a state dict that "
                    "torch.load(FILE, weights_only=True) reads and the run's torch model loads. Back: save a "
                    "torch state dict with safetensors.torch.save_file and train with --set weights=FILE.")
    parser.add_argument("target", metavar="RUN", help="run directory, or a .safetensors file in one")
    parser.add_argument("--to", choices=("torch",), required=True)
    parser.add_argument("-o", "--output", help="file to write (default: model.pt beside the weights)")
    parser.add_argument("--checkpoint", choices=("best", "last"), default="best", help="which of a run's weights")
    parser.set_defaults(handler=run_export)


def run_export(args: argparse.Namespace) -> int:
    from scratchgrad.lab.export import export, how_to_load

    path, config = export(args.target, args.to, args.output, f"{args.checkpoint}.safetensors")
    print(f"wrote {path}; in PyTorch, with scratchgrad.models.build_model:\n{how_to_load(path, config)}")
    return 0


SUBCOMMANDS: list[Callable[[argparse._SubParsersAction], None]] = [
    add_train, add_sweep, add_report, add_compare, add_demo, add_summary, add_augment_preview,
    add_config, add_evaluate, add_export,
]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="scratchgrad", description=__doc__.splitlines()[0])
    subparsers = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for add in SUBCOMMANDS:
        add(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command in ``argv`` (default: ``sys.argv[1:]``); returns the exit status."""
    return run_command(build_parser().parse_args(argv))


def run_command(args: argparse.Namespace) -> int:
    """Run the parsed command ``args``; expected failures become one line on stderr and status 2."""
    try:
        return args.handler(args)
    except KeyboardInterrupt:  # a second Ctrl-C during training, or one outside it
        print(f"scratchgrad {args.command}: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except Exception as error:  # the one error boundary: expected failures become one line, bugs keep a traceback
        message = expected_failure(error)
        if message is None:
            raise
        # a message may quote undecodable command-line bytes (lone surrogates): shown escaped, never a crash
        message = message.encode("utf-8", "backslashreplace").decode("utf-8")
        print(f"scratchgrad {args.command}: error: {message}", file=sys.stderr)
        return EXIT_USAGE_OR_DATA_ERROR


def expected_failure(error: Exception) -> str | None:
    """What to tell the user about ``error`` when it is an expected failure (bad input, full disk), else None."""
    from scratchgrad.data import ChecksumError, DatasetNotFoundError, UnsafePickleError
    from scratchgrad.lab.distributed import DistributedError
    from scratchgrad.serialization import SafetensorsError

    if isinstance(error, (ConfigError, DatasetNotFoundError, ChecksumError, UnsafePickleError, SafetensorsError,
                          DistributedError)):
        return str(error)
    if isinstance(error, OSError) and error.errno in OS_ERROR_HINTS:
        where = " -> ".join(str(name) for name in (error.filename, error.filename2) if name is not None)
        return f"{where or 'a file'}: {OS_ERROR_HINTS[error.errno]} ({error.strerror})"
    if isinstance(error, MemoryError):
        return (f"not enough memory ({error or 'an allocation failed'}); lower batch_size, eval_batch_size, "
                "model.width or the input size")
    return None


if __name__ == "__main__":
    sys.exit(main())
