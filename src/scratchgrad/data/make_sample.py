"""Build the shipped MNIST sample from the real MNIST files.

    python -m scratchgrad.data.make_sample [--root DIR] [--out FILE]

Deterministic: the same MNIST files give a byte-identical ``.npz`` (the first images of
each class, fixed zip timestamps), so rebuilding never shows up as a change in git.
"""
from __future__ import annotations

import argparse
import io
import zipfile
from pathlib import Path

import numpy as np

from .dataset import subset
from .mnist import MNIST
from .sample import SAMPLE_FILE

TRAIN_PER_CLASS = 600
TEST_PER_CLASS = 100
_FIXED_ZIP_TIME = (1980, 1, 1, 0, 0, 0)


def build_sample(out: Path, root: str | None = None) -> Path:
    """Write the first ``TRAIN_PER_CLASS``/``TEST_PER_CLASS`` images of each digit to ``out``."""
    arrays = {}
    for split, per_class in (("train", TRAIN_PER_CLASS), ("test", TEST_PER_CLASS)):
        mnist = MNIST(root, train=split == "train")
        chosen = subset(mnist, per_class * len(mnist.classes), how="balanced")
        arrays[f"{split}_images"], arrays[f"{split}_labels"] = chosen.images, chosen.labels
    _write_npz(out, arrays)
    return out


def _write_npz(path: Path, arrays: dict[str, np.ndarray]) -> None:
    """Like ``np.savez_compressed`` but with fixed timestamps, for byte-identical output."""
    with zipfile.ZipFile(path, "w") as archive:
        for name, array in arrays.items():
            buffer = io.BytesIO()
            np.lib.format.write_array(buffer, np.ascontiguousarray(array), allow_pickle=False)
            info = zipfile.ZipInfo(f"{name}.npy", date_time=_FIXED_ZIP_TIME)
            archive.writestr(info, buffer.getvalue(), compress_type=zipfile.ZIP_DEFLATED,
                             compresslevel=9)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--root", help="folder with the MNIST files (default: the usual lookup)")
    parser.add_argument("--out", type=Path, default=Path(__file__).with_name(SAMPLE_FILE))
    args = parser.parse_args(argv)
    path = build_sample(args.out, args.root)
    print(f"wrote {path} ({path.stat().st_size / 1e6:.2f} MB)")


if __name__ == "__main__":
    main()
