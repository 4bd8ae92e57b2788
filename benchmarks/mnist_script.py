"""A plain PyTorch MNIST training script; ``--engine scratch`` switches its imports to scratchgrad.

Nothing else differs between the engines: the model, the data pipeline (NumPy arrays from
scratchgrad.data's IDX reader, shuffled with a seeded NumPy generator), Adam with OneCycle,
and a test-set evaluation every ``--eval-every`` steps. It stops at the first evaluation that
reaches ``--target`` and prints one JSON line of what it measured (seconds counted from the
start of this script's own code; ``time_to_accuracy.py`` also times the whole process).

    python benchmarks/mnist_script.py --engine torch --seed 0
    python benchmarks/mnist_script.py --engine scratch --seed 0 --width 0.5 --batch-size 256
"""
from __future__ import annotations

import time

START = time.perf_counter()

import argparse  # noqa: E402
import json  # noqa: E402

import numpy as np  # noqa: E402


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--engine", choices=("torch", "scratch"), required=True)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--width", type=float, default=1.0, help="channel multiplier of conv32 / conv64")
    parser.add_argument("--hidden", type=int, default=128, help="units of the hidden Linear layer")
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--epochs", type=float, default=3, help="length of the OneCycle schedule")
    parser.add_argument("--max-lr", type=float, default=3e-3)
    parser.add_argument("--eval-every", type=int, default=117, help="steps between test evaluations")
    parser.add_argument("--label-smoothing", type=float, default=0.0)
    parser.add_argument("--target", type=float, default=0.99)
    return parser.parse_args()


def model_for(nn, width: float, hidden: int):
    c1, c2 = max(1, round(32 * width)), max(1, round(64 * width))
    return nn.Sequential(
        nn.Conv2d(1, c1, 3, padding=1, bias=False), nn.BatchNorm2d(c1), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(c1, c2, 3, padding=1, bias=False), nn.BatchNorm2d(c2), nn.ReLU(), nn.MaxPool2d(2),
        nn.Flatten(), nn.Linear(c2 * 7 * 7, hidden), nn.ReLU(), nn.Linear(hidden, 10),
    )


def normalized(images: np.ndarray) -> np.ndarray:
    return ((images.astype(np.float32) / 255 - 0.1307) / 0.3081).astype(np.float32)


def main() -> None:
    args = parse_args()
    if args.engine == "torch":
        import torch
        import torch.nn as nn
        import torch.nn.functional as F
    else:
        import scratchgrad as torch
        import scratchgrad.nn as nn
        import scratchgrad.nn.functional as F
    from scratchgrad.data import MNIST

    torch.manual_seed(args.seed)
    train, test = MNIST(train=True, download=False), MNIST(train=False, download=False)
    x_train, y_train = normalized(train.images), train.labels
    x_test, y_test = torch.from_numpy(normalized(test.images)), test.labels
    model = model_for(nn, args.width, args.hidden)
    steps_per_epoch = len(x_train) // args.batch_size
    total = max(1, round(args.epochs * steps_per_epoch))
    optimizer = torch.optim.Adam(model.parameters(), lr=args.max_lr / 25)
    scheduler = torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=args.max_lr, total_steps=total)
    rng = np.random.default_rng(args.seed)
    ready = time.perf_counter() - START

    def accuracy() -> float:
        model.eval()
        with torch.no_grad():
            predictions = [model(x_test[i:i + 2000]).argmax(1).numpy() for i in range(0, len(y_test), 2000)]
        model.train()
        return float((np.concatenate(predictions) == y_test).mean())

    step, acc, order = 0, 0.0, np.empty(0, dtype=np.int64)
    while step < total:
        if len(order) < args.batch_size:
            order = rng.permutation(len(x_train))
        batch, order = order[:args.batch_size], order[args.batch_size:]
        loss = F.cross_entropy(model(torch.from_numpy(x_train[batch])), torch.from_numpy(y_train[batch]),
                               label_smoothing=args.label_smoothing)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        scheduler.step()
        step += 1
        if step % args.eval_every == 0 or step == total:
            acc = accuracy()
            if acc >= args.target:
                break
    print(json.dumps({"engine": args.engine, "seed": args.seed, "reached": acc >= args.target, "test_acc": acc,
                      "steps": step, "seconds": time.perf_counter() - START, "setup_seconds": ready}), flush=True)


if __name__ == "__main__":
    main()
