"""The training loop: one loop for both engines, resumable at any step.

After every epoch the loop evaluates on the validation split (when ``data.val_split`` holds
one out) and on the test split (eval mode, no_grad), saves the weights, then the training
state — the commit point — and then rewrites metrics.csv from it. ``best.safetensors`` is
the epoch of best validation accuracy; without a validation split, of best test accuracy
(the study's protocol, which reports what it selected on).

The state holds the model, optimizer, scheduler, progress (epoch, step within
it, running sums), the metrics so far and the engine's random state (scratchgrad's
default generator, or torch's CPU and CUDA generators); the data needs none, as the
batches of epoch e depend only on (seed, e). A run killed before a commit resumes from
the previous one, so on the scratch engine a resumed run repeats an uninterrupted one
exactly. Ctrl-C stops after the current step and commits a mid-epoch state; a
non-finite loss stops the run, names the epoch and step, and keeps the last good
checkpoint.

In a data-parallel run (see :mod:`.distributed`) every rank runs this loop on its part of
each batch; a step's loss, accuracy and stop flag, and the evaluations, are summed over the
ranks, so that every rank decides alike, and only rank 0 writes the run directory.
"""
from __future__ import annotations

import contextlib
import math
import signal
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
from tqdm import tqdm

from scratchgrad import serialization

from .build import make_data, make_model, make_optimizer, make_scheduler
from .config import ConfigError
from .distributed import SINGLE, Group
from .engines import make_engine
from .plots import plot_curves
from .rundir import BEST, CURVES, LAST, STATE, RunDir
from .step import train_step

EXIT_OK, EXIT_DIVERGED, EXIT_INTERRUPTED = 0, 3, 130
STATE_KEYS = ("model", "optimizer", "scheduler", "rng", "progress", "metrics")


class Diverged(RuntimeError):
    """The loss, a weight or a buffer became NaN or infinite."""


class Interrupted(RuntimeError):
    """Ctrl-C: the run stopped between two steps."""


@dataclass
class Progress:
    """Where the run is: finished epochs, steps done in the next one, and its running sums."""

    epoch: int = 0
    step: int = 0
    loss_sum: float = 0.0
    correct: int = 0
    seen: int = 0
    seconds: float = 0.0
    best_acc: float = -1.0  # on the split the best epoch is chosen on (see Trainer.selection_split)
    best_epoch: int = 0


class Trainer:
    """Train ``config``'s model, writing everything to ``run``.

    Args:
        config: a resolved config (see :mod:`.config`).
        run: the run directory.
        echo: where messages go besides log.txt.
        group: the processes training this run together (see :mod:`.distributed`); one by default.
    """

    def __init__(self, config: dict[str, Any], run: RunDir, echo: Any = None, group: Group = SINGLE):
        self.config, self.run, self.group = config, run, group
        self.echo = echo or _echo
        self.engine = make_engine(config["engine"], config["device"])
        self.engine.set_num_threads(config["threads"])
        self.engine.manual_seed(config["seed"])
        self.data = make_data(config)
        group.shard(self.data.train)
        self.model = make_model(config, self.engine, self.data.shape)
        if config["weights"]:
            self._load_weights(_read_weights(config["weights"]), f"weights = {config['weights']!r}")
        self.train_model = group.wrap(self.model, self.engine)  # what training steps call (DDP on torch)
        self.optimizer = make_optimizer(config, self.engine, self.model.parameters())
        self.scheduler, self.per_batch = make_scheduler(config, self.engine, self.optimizer, len(self.data.train))
        self.progress = Progress()
        self.rows: list[dict[str, float]] = []

    @property
    def selection_split(self) -> str:
        """The split whose accuracy chooses the best epoch: "val", or "test" without a validation split."""
        return "test" if self.data.val is None else "val"

    def resume(self, restart: bool = False) -> None:
        """Continue from the run directory's saved state, or start over with ``restart``.

        A run without a state starts from epoch 0 only when it never finished an epoch (it
        was stopped in its first); otherwise its state was lost, and a ConfigError offers
        ``--restart`` rather than silently retraining over its metrics and weights.
        """
        if restart:
            for name in (STATE, LAST, BEST):
                self.run.file(name).unlink(missing_ok=True)
        state = self.run.load(STATE)
        if state is None:
            finished = 0 if restart else self.run.finished_epochs()  # metrics.csv is written after each commit
            if finished:
                raise ConfigError(f"{self.run.path}: {finished} epoch(s) finished but {STATE} is missing, "
                                  "so the run cannot continue where it stopped; restore the file, or start over (its "
                                  f"metrics and weights are discarded): scratchgrad train --resume {self.run.path} "
                                  "--restart")
            self.run.write_metrics([])
            return
        self._load_state(state)
        self.run.write_metrics(self.rows)  # a run killed just after its commit lacks the last row

    def _load_state(self, state: dict[str, Any]) -> None:
        where = self.run.file(STATE)
        missing = [key for key in STATE_KEYS if key not in state]
        if missing:
            raise ConfigError(f"{where}: not a training state: no {', '.join(missing)} (a weights file in its place?); "
                              f"restore it, or start over: scratchgrad train --resume {self.run.path} --restart")
        self._load_weights(state["model"], f"{where}")
        try:
            self.optimizer.load_state_dict(self.engine.restore(state["optimizer"]))
            if self.scheduler is not None:
                self.scheduler.load_state_dict(state["scheduler"])
            self.engine.set_rng_state(self.engine.restore(state["rng"]))
            self.progress = Progress(**state["progress"])
            self.rows = [dict(row) for row in state["metrics"]]
        except (KeyError, TypeError, ValueError, IndexError, AttributeError, RuntimeError) as error:
            raise ConfigError(f"{where}: does not hold this run's training state ({type(error).__name__}: {error}); "
                              f"restore it, or start over: scratchgrad train --resume {self.run.path} --restart") from None

    def fit(self) -> int:
        """Train until ``epochs``; returns the exit status (EXIT_OK, EXIT_DIVERGED, EXIT_INTERRUPTED)."""
        epochs = self.config["epochs"]
        with _stop_on_sigint(self.echo) as stop:
            try:
                while self.progress.epoch < epochs:
                    if self.group.sum(stop.is_set())[0]:
                        raise Interrupted
                    self._end_epoch(self._train_epoch(stop))
            except Diverged as error:
                good = self.progress.epoch
                where = f"the checkpoint of epoch {good} is kept" if good else "no epoch finished, no checkpoint"
                self.run.log(f"stopped: {error}; {where} in {self.run.path}", self.echo)
                return EXIT_DIVERGED
            except Interrupted:
                self._save_state()
                self.run.log(f"interrupted at epoch {self.progress.epoch + 1}, step {self.progress.step}; "
                             f"state saved: scratchgrad train --resume {self.run.path}", self.echo)
                return EXIT_INTERRUPTED
        best = self.progress
        there = "" if self.data.val is None else \
            f" (test acc {100 * self.rows[best.best_epoch - 1]['test_acc']:.2f}% there)"
        self.run.log(f"done: best {self.selection_split} acc {100 * best.best_acc:.2f}% at epoch {best.best_epoch}"
                     + there, self.echo)
        return EXIT_OK

    # ----------------------------------------------------------------- epochs
    def _train_epoch(self, stop: threading.Event) -> dict[str, float]:
        progress, epoch = self.progress, self.progress.epoch + 1
        lr = self.optimizer.param_groups[0]["lr"]
        self.data.train.set_epoch(progress.epoch)  # the loader counts epochs from 0
        self.model.train()
        start = time.perf_counter()
        with tqdm(self.data.train, desc=f"epoch {epoch}/{self.config['epochs']}", unit="batch", leave=False,
                  dynamic_ncols=True, disable=not sys.stderr.isatty()) as bar:
            for step, (images, labels) in enumerate(bar):
                if step < progress.step:
                    continue  # trained before the run was interrupted
                loss_sum, correct, seen = self._train_step(images, labels, epoch, step + 1)
                progress.loss_sum += loss_sum
                progress.correct += correct
                progress.seen += seen
                progress.step = step + 1
                bar.set_postfix_str(f"loss {progress.loss_sum / progress.seen:.4f}", refresh=False)
                if self.group.sum(stop.is_set())[0]:  # every rank stops after the same step
                    progress.seconds += time.perf_counter() - start
                    raise Interrupted
        val_loss, val_acc = self.evaluate(self.data.val) if self.data.val is not None else (math.nan, math.nan)
        test_loss, test_acc = self.evaluate()
        return {"epoch": epoch, "train_loss": progress.loss_sum / progress.seen,
                "train_acc": progress.correct / progress.seen, "val_loss": val_loss, "val_acc": val_acc,
                "test_loss": test_loss, "test_acc": test_acc,
                "lr": lr, "seconds": progress.seconds + time.perf_counter() - start}

    def _train_step(self, images: Any, labels: Any, epoch: int, step: int) -> tuple[float, int, int]:
        """(loss sum, correct, images) of the step's batch (the global batch, over every rank)."""
        batch: list[float] = []

        def check_finite(loss: Any) -> None:  # on the whole batch, so that every rank decides alike
            batch[:] = self.group.sum(float(loss.item()) * len(labels), len(labels))
            self.group.set_share(len(labels) / batch[1])
            if not math.isfinite(batch[0]):
                raise Diverged(f"loss is {batch[0] / batch[1]} at epoch {epoch}, step {step} of {len(self.data.train)}")

        _, logits = train_step(self.train_model, self.optimizer, self.engine.cross_entropy, self.engine.tensor(images),
                               self.engine.tensor(labels), before_backward=check_finite,
                               before_update=lambda: self.group.sync_gradients(self.model, self.engine))
        if self.per_batch:
            self.scheduler.step()
        correct = self.group.sum(int((self.engine.numpy(logits).argmax(1) == labels).sum()))[0]
        return batch[0], int(correct), int(batch[1])

    def evaluate(self, loader: Any = None) -> tuple[float, float]:
        """(mean loss, accuracy) on ``loader`` (default: the test split), in eval mode under no_grad."""
        loader = self.data.test if loader is None else loader
        self.model.eval()
        self.group.sync_buffers(self.model, self.engine)
        sums = np.zeros((len(loader), 3))  # per batch: loss x images, correct, images; ranks share the batches
        loader.set_epoch(0)
        with self.engine.no_grad():
            for number, (images, labels) in enumerate(loader):
                if self.group.owns(number):
                    logits = self.model(self.engine.tensor(images))
                    loss = float(self.engine.cross_entropy(logits, self.engine.tensor(labels)).item())
                    correct = (self.engine.numpy(logits).argmax(1) == labels).sum()
                    sums[number] = loss * len(labels), correct, len(labels)
        self.model.train()
        loss_sum, correct, seen = 0.0, 0, 0
        for batch_loss, batch_correct, images in self.group.sum_rows(sums):  # in batch order, as one process adds
            loss_sum, correct, seen = loss_sum + float(batch_loss), correct + int(batch_correct), seen + int(images)
        return loss_sum / seen, correct / seen

    def _end_epoch(self, row: dict[str, float]) -> None:
        """Record the epoch: weights, then the state (the commit point), then metrics.csv and the plot."""
        progress = self.progress
        weights = self.engine.export(self.model.state_dict())
        _check_finite(weights, row["epoch"])
        self.rows.append(row)
        if self.scheduler is not None and not self.per_batch:
            self.scheduler.step()
        self.run.save(LAST, weights)
        if row[f"{self.selection_split}_acc"] > progress.best_acc:
            progress.best_acc, progress.best_epoch = row[f"{self.selection_split}_acc"], row["epoch"]
            self.run.save(BEST, weights)
        self.progress = Progress(epoch=row["epoch"], best_acc=progress.best_acc, best_epoch=progress.best_epoch)
        self._save_state()
        self.run.write_metrics(self.rows)
        self.run.log(_describe(row, self.config["epochs"]), self.echo)
        if not self.group.leader:
            return
        try:
            plot_curves(self.rows, self.run.file(CURVES), title=self.config["name"])
        except ImportError as error:
            self.run.log(f"no {CURVES}: {error} (pip install 'scratchgrad[plot]')", echo=None)

    # ------------------------------------------------------------- checkpoints
    def _save_state(self) -> None:
        engine = self.engine
        self.run.save(STATE, {
            "model": engine.export(self.model.state_dict()),
            "optimizer": engine.export(self.optimizer.state_dict()),
            "scheduler": self.scheduler.state_dict() if self.scheduler is not None else None,
            "rng": engine.export(engine.rng_state()),
            "progress": asdict(self.progress),
            "metrics": self.rows,
        })

    def _load_weights(self, weights: dict[str, Any], source: str) -> None:
        try:
            self.model.load_state_dict(self.engine.restore(weights))
        except (RuntimeError, ValueError, KeyError, TypeError, AttributeError) as error:
            raise ConfigError(f"{source}: these weights do not fit model {self.config['model']['name']}: "
                              f"{' '.join(str(error).split())}") from None  # on one line


def _read_weights(path: str) -> dict[str, Any]:
    expected = "expected a safetensors file of model weights, e.g. RUN_DIR/best.safetensors"
    try:
        return serialization.load(path)
    except FileNotFoundError:
        raise ConfigError(f"weights = {path!r}: no such file") from None
    except OSError as error:  # a directory, no permission
        raise ConfigError(f"weights = {path!r}: cannot be read ({error.strerror}); {expected}") from None
    except serialization.SafetensorsError as error:
        raise ConfigError(f"weights = {path!r}: {error}; {expected}") from None


def _check_finite(weights: dict[str, Any], epoch: int) -> None:
    """Diverged when a parameter or a buffer (BatchNorm's running statistics) is NaN or infinite."""
    bad = [name for name, array in weights.items() if not np.isfinite(array).all()]
    if bad:
        more = f" (and {len(bad) - 1} more)" if len(bad) > 1 else ""
        raise Diverged(f"{bad[0]}{more} is not finite after epoch {epoch}")


def _describe(row: dict[str, float], epochs: int) -> str:
    splits = ("train", "test") if math.isnan(row["val_acc"]) else ("train", "val", "test")
    scores = "  ".join(f"{split} loss {row[f'{split}_loss']:.4f} acc {100 * row[f'{split}_acc']:.2f}%" for split in splits)
    return f"epoch {row['epoch']}/{epochs}  {scores}  lr {row['lr']:.3g}  {row['seconds']:.1f} s"


def _echo(message: str) -> None:
    tqdm.write(message, file=sys.stdout)  # keeps a progress bar intact


@contextlib.contextmanager
def _stop_on_sigint(echo: Any) -> Iterator[threading.Event]:
    """An event set by the first Ctrl-C (the loop stops after its step); a second one aborts at once."""
    stop = threading.Event()
    if threading.current_thread() is not threading.main_thread():
        yield stop
        return
    previous = signal.getsignal(signal.SIGINT)

    def handler(signum: int, frame: Any) -> None:
        stop.set()
        signal.signal(signal.SIGINT, previous)
        echo("Ctrl-C: saving a resumable state after this step (press again to abort at once)")

    signal.signal(signal.SIGINT, handler)
    try:
        yield stop
    finally:
        signal.signal(signal.SIGINT, previous)
