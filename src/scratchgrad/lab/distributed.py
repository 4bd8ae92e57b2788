"""Data-parallel training of one run over several processes, on ``torch.distributed``.

Every process (a *rank*) holds the whole model and trains on its slice of each global
batch; the gradients are averaged across ranks before every optimizer step, so all ranks
keep the same weights:

- torch engine: ``DistributedDataParallel`` (gloo on CPU, NCCL on CUDA) averages them
  during ``backward``;
- scratch engine: after ``backward``, all gradients are copied into one flat NumPy buffer,
  all-reduced with torch.distributed's gloo (``torch.from_numpy`` shares the buffer's
  memory, so nothing else is copied) and divided by the number of ranks. An existing
  collective library, not sockets of our own; gloo runs anywhere PyTorch does, and the
  same call takes NCCL for GPU buffers. (MPI through mpi4py would need an MPI runtime
  installed and launched with ``mpirun``.)

Batches: global batch = ``batch_size``. Every rank makes the whole batch from the same
``(seed, epoch)`` order and augmentation as one process would, and keeps part ``rank`` of
``np.array_split(batch, world_size)`` (contiguous; the first parts one image larger when
the batch does not divide). Each rank's gradient is weighted by its share of the batch's
images and the weighted gradients are summed (for DDP through a communication hook), which
gives the gradient of the whole batch's mean loss, as in one process (up to float rounding),
also for a last batch that does not divide evenly. BatchNorm computes its batch statistics
per rank, as in plain DDP; rank 0's running statistics are the ones evaluated and saved
(broadcast to all ranks before an evaluation). Dropout draws per rank from the same seed.

Evaluation is sharded by batch (rank r evaluates batches r, r + world, ...) and the
per-batch sums are all-reduced and added up in batch order: the same numbers as one process.

Only rank 0 writes the run directory (config, metrics, checkpoints, log, lock); the others
read it to resume (so on several machines it lies on a shared filesystem). A rank that
dies makes the others fail with DistributedError instead of waiting: gloo notices a closed
connection at once, and a rank that hangs is given up after ``$SCRATCHGRAD_DIST_TIMEOUT``
seconds (default 1800; it must exceed the longest pause between two collectives, an
evaluation and checkpoint by rank 0 included).

Launch: ``scratchgrad train ... --nproc N`` (N local processes, see :func:`launch`) or any
torchrun-style launcher setting RANK, WORLD_SIZE, MASTER_ADDR, MASTER_PORT (and LOCAL_RANK).
"""
from __future__ import annotations

import argparse
import contextlib
import datetime
import os
import signal
import socket
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np

from .config import ConfigError
from .rundir import RunDir

TIMEOUT_ENV = "SCRATCHGRAD_DIST_TIMEOUT"
DEFAULT_TIMEOUT_S = 1800.0


class DistributedError(RuntimeError):
    """Another rank of a data-parallel run failed, died or cannot be reached."""


class Group:
    """The processes of one run; this base class is one process alone, where every method is a no-op.

    Attributes:
        rank: this process's index, 0 to ``world - 1``; rank 0 writes the run directory.
        world: the number of processes.
    """

    rank, world = 0, 1

    @property
    def leader(self) -> bool:
        return self.rank == 0

    def run_dir(self, path: str | Path) -> RunDir:
        """The run directory as this rank sees it: rank 0 writes it, the others only read."""
        return RunDir(path) if self.leader else ReadOnlyRunDir(path)

    def from_leader(self, value: Any) -> Any:
        """Rank 0's ``value`` on every rank (a picklable object)."""
        return value

    def sum(self, *numbers: float) -> tuple[float, ...]:
        """``numbers`` added over ranks (e.g. a batch's loss sum and images; a stop flag)."""
        return numbers

    def shard(self, loader: Any) -> None:
        """Give ``loader`` this rank's part of every batch."""

    def wrap(self, model: Any, engine: Any) -> Any:
        """What the training forward pass calls: DDP around a torch model, the model itself otherwise."""
        return model

    def set_share(self, share: float) -> None:
        """This rank's share of the images of the step's batch: the weight of its gradient in the sum."""

    def sync_gradients(self, model: Any, engine: Any) -> None:
        """Replace each gradient by the share-weighted sum over ranks (scratch engine; DDP did it for torch)."""

    def sync_buffers(self, model: Any, engine: Any) -> None:
        """Give every rank rank 0's buffers (BatchNorm's running statistics)."""

    def owns(self, batch: int) -> bool:
        """Whether this rank evaluates batch number ``batch``."""
        return True

    def sum_rows(self, rows: np.ndarray) -> np.ndarray:
        """``rows`` added over ranks (each rank fills its own rows, zeros elsewhere, so the sum is exact)."""
        return rows


SINGLE = Group()


class ProcessGroup(Group):
    """This process's place in an initialized ``torch.distributed`` process group."""

    def __init__(self) -> None:
        import torch
        import torch.distributed as dist

        self.torch, self.dist = torch, dist
        self.rank, self.world = dist.get_rank(), dist.get_world_size()
        self.share = 1.0 / self.world

    def from_leader(self, value: Any) -> Any:
        box = [value]
        self.dist.broadcast_object_list(box, src=0)
        return box[0]

    def sum(self, *numbers: float) -> tuple[float, ...]:
        return tuple(float(x) for x in self._sum(np.array(numbers, dtype=np.float64)))

    def shard(self, loader: Any) -> None:
        rest = len(loader.dataset) % loader.batch_size
        if 0 < rest < self.world and not loader.drop_last:
            raise ConfigError(f"batch_size = {loader.batch_size}: the last batch of an epoch would hold {rest} "
                              f"image(s), fewer than the {self.world} processes; choose another batch_size or "
                              "data.subset")
        loader.set_shard(self.rank, self.world)

    def wrap(self, model: Any, engine: Any) -> Any:
        if engine.name != "torch":
            if engine.device != "cpu":
                raise ConfigError("data-parallel training of the scratch engine runs on device = 'cpu' only")
            self._broadcast(_host_tensors(engine, model.parameters()))  # as DDP does: rank 0's initial weights
            return model
        from torch.nn.parallel import DistributedDataParallel

        cuda = engine.device == "cuda"
        parallel = DistributedDataParallel(model, device_ids=[self.torch.cuda.current_device()] if cuda else None)
        parallel.register_comm_hook(self, _weighted_sum_hook)
        return parallel

    def set_share(self, share: float) -> None:
        self.share = share

    def sync_gradients(self, model: Any, engine: Any) -> None:
        if engine.name == "torch":
            return
        grads = [param.grad for param in model.parameters() if param.grad is not None]
        if not grads:
            return
        flat = np.concatenate([grad.array.ravel() for grad in grads])  # one collective per step, not one per tensor
        flat *= self.share
        self._sum(flat)
        start = 0
        for grad in grads:
            size = grad.array.size
            grad.array = flat[start:start + size].reshape(grad.shape)
            start += size

    def sync_buffers(self, model: Any, engine: Any) -> None:
        self._broadcast(_host_tensors(engine, model.buffers()))

    def owns(self, batch: int) -> bool:
        return batch % self.world == self.rank

    def sum_rows(self, rows: np.ndarray) -> np.ndarray:
        return self._sum(np.ascontiguousarray(rows, dtype=np.float64))

    # -------------------------------------------------------------- collectives
    def _sum(self, array: np.ndarray) -> np.ndarray:
        self._call("all_reduce", self.torch.from_numpy(array))  # in place, through the shared memory
        return array

    def _broadcast(self, tensors: list[Any]) -> None:
        for tensor in tensors:
            self._call("broadcast", tensor, src=0)

    def _call(self, name: str, *args: Any, **kwargs: Any) -> None:
        try:
            getattr(self.dist, name)(*args, **kwargs)
        except RuntimeError as error:
            raise lost_contact(self.rank, error) from error


def _weighted_sum_hook(group, bucket):  # type: ignore[no-untyped-def]  # DDP rejects annotations it cannot resolve
    """DDP's communication: each rank's gradients times its share of the batch, summed (DDP's own hook averages)."""
    tensor = bucket.buffer()
    tensor.mul_(group.share)
    return group.dist.all_reduce(tensor, async_op=True).get_future().then(lambda future: future.value()[0])


class ReadOnlyRunDir(RunDir):
    """A run directory that ranks other than 0 read (to resume) but never write."""

    @contextlib.contextmanager
    def lock(self) -> Iterator[None]:
        yield  # rank 0 holds the lock for the whole run

    def remove_stale_temporaries(self) -> list[Path]:
        return []

    def write_config(self, config: dict[str, Any], run_info: dict[str, Any]) -> None:
        pass

    def write_metrics(self, rows: list[dict[str, float]]) -> None:
        pass

    def save(self, name: str, obj: dict[str, Any]) -> None:
        pass

    def log(self, message: str, echo: Any = print) -> None:
        pass


def _host_tensors(engine: Any, tensors: Any) -> list[Any]:
    """torch tensors to run collectives on: the torch engine's own, or views of the scratch engine's arrays."""
    if engine.name == "torch":
        return list(tensors)
    import torch

    views = []
    for tensor in tensors:
        if not tensor.array.flags.c_contiguous:
            tensor.array = np.ascontiguousarray(tensor.array)
        views.append(torch.from_numpy(tensor.array))
    return views


def lost_contact(rank: int, error: BaseException) -> DistributedError:
    first_line = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
    return DistributedError(f"rank {rank}: lost contact with the other processes of the run ({first_line}); "
                            "another rank failed or was killed (see its message). Resume the run with "
                            "`scratchgrad train --resume RUN_DIR` (and the same --nproc)")


def timeout_seconds() -> float:
    """``$SCRATCHGRAD_DIST_TIMEOUT`` (seconds a collective may wait for the other ranks), default 1800."""
    text = os.environ.get(TIMEOUT_ENV, "")
    try:
        value = float(text) if text else DEFAULT_TIMEOUT_S
    except ValueError:
        value = -1.0
    if not value > 0:
        raise ConfigError(f"${TIMEOUT_ENV}: expected seconds > 0, got {text!r}")
    return value


@contextlib.contextmanager
def process_group() -> Iterator[Group]:
    """The run's process group from torchrun-style variables (RANK, WORLD_SIZE, ...); SINGLE without them.

    On CUDA machines each process takes GPU ``$LOCAL_RANK``. A clean exit waits for every
    rank (so rank 0's last checkpoint is written before any rank ends), then leaves the group.
    """
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        yield SINGLE
        return
    import torch
    import torch.distributed as dist

    cuda = torch.cuda.is_available()
    if cuda:
        torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", "0")))
    try:
        dist.init_process_group("cpu:gloo,cuda:nccl" if cuda else "gloo",
                                timeout=datetime.timedelta(seconds=timeout_seconds()))
    except (RuntimeError, ValueError) as error:
        raise DistributedError(f"rank {os.environ.get('RANK', '?')}: cannot join the process group of "
                               f"{world} processes at {os.environ.get('MASTER_ADDR')}:{os.environ.get('MASTER_PORT')} "
                               f"({str(error).strip().splitlines()[0]})") from None
    group = ProcessGroup()
    try:
        yield group
        group._call("barrier")
    except RuntimeError as error:  # DDP's all-reduce inside backward fails with torch's own errors
        if isinstance(error, DistributedError) or not isinstance(error, dist.DistError):
            raise
        raise lost_contact(group.rank, error) from error
    finally:
        dist.destroy_process_group()


def launch(nproc: int, command: Callable[[argparse.Namespace], int], args: argparse.Namespace) -> int:
    """Run ``command(args)`` in ``nproc`` new local processes, one rank each; their common exit status.

    Each rank runs on its share of this process's cores (``sched_setaffinity``; torch's thread
    count follows), so that N ranks do not oversubscribe the machine. When one rank fails or
    dies, torch.multiprocessing stops the others and this raises a DistributedError naming it.
    Ctrl-C reaches every rank; they agree on the step to stop after, and rank 0 saves the state.
    """
    import torch.multiprocessing as mp

    if nproc < 1:
        raise ConfigError(f"--nproc: expected an int >= 1, got {nproc}")
    port = _free_port()
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)  # the ranks handle Ctrl-C themselves
    try:
        mp.start_processes(_rank_main, args=(nproc, port, command, args), nprocs=nproc, start_method="spawn")
    except mp.ProcessExitedException as error:
        if error.exit_code is not None and error.exit_code > 0:
            return error.exit_code
        how = f"was killed by {error.signal_name}" if error.signal_name else f"exited with status {error.exit_code}"
        raise DistributedError(f"--nproc {nproc}: rank {error.error_index} (pid {error.error_pid}) {how}; the other "
                               "ranks were stopped. Resume the run with `scratchgrad train --resume RUN_DIR --nproc "
                               f"{nproc}`") from None
    finally:
        signal.signal(signal.SIGINT, previous)
    return 0


def _rank_main(rank: int, world: int, port: int, command: Callable[[argparse.Namespace], int],
               args: argparse.Namespace) -> None:
    from .sweep import PARENT_PID

    signal.signal(signal.SIGINT, signal.default_int_handler)  # spawn inherited the launcher's SIG_IGN
    os.environ.pop(PARENT_PID, None)  # a sweep watches the launcher; torch stops the ranks when it dies
    os.environ.update(RANK=str(rank), LOCAL_RANK=str(rank), WORLD_SIZE=str(world), MASTER_ADDR="127.0.0.1",
                      MASTER_PORT=str(port))
    cores = sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else []
    if len(cores) >= world:
        mine = np.array_split(np.array(cores), world)[rank]
        os.sched_setaffinity(0, {int(core) for core in mine})
        import torch

        torch.set_num_threads(len(mine))
    code = command(argparse.Namespace(**{**vars(args), "nproc": 1}))
    if code:
        raise SystemExit(code)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]
