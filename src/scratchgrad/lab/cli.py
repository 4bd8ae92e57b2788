"""The ``scratchgrad`` command line.

Each subcommand is one ``add_<name>(subparsers)`` function that declares its arguments
and sets ``handler`` to the function that runs it; ``SUBCOMMANDS`` lists them. To add
one, write the pair and append the ``add_`` function to ``SUBCOMMANDS``.
"""
from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence

EXIT_USAGE_OR_DATA_ERROR = 2


def add_augment_preview(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "augment-preview", help="save a grid of original and augmented images",
        description="Save a PNG of originals beside augmented versions (the study's Figures 1 and 8).")
    parser.add_argument("--dataset", required=True,
                        choices=("mnist", "fashion-mnist", "cifar10", "mnist-sample"))
    parser.add_argument("--preset", default="study", choices=("study", "study+jitter"))
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


SUBCOMMANDS: list[Callable[[argparse._SubParsersAction], None]] = [add_augment_preview]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="scratchgrad", description=__doc__.splitlines()[0])
    subparsers = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for add in SUBCOMMANDS:
        add(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command in ``argv`` (default: ``sys.argv[1:]``); returns the exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    from scratchgrad.data import ChecksumError, DatasetNotFoundError

    try:
        return args.handler(args)
    except (DatasetNotFoundError, ChecksumError) as error:
        print(f"scratchgrad {args.command}: error: {error}", file=sys.stderr)
        return EXIT_USAGE_OR_DATA_ERROR


if __name__ == "__main__":
    sys.exit(main())
