"""The machine the kernels run on, and the size thresholds derived from it: the one place for them.

The kernels cut their work into chunks and blocks whose best size depends on the processor:
its caches, the BLAS kernels NumPy was built with and NumPy's own loop buffers. Constants
tuned on one host are wrong on another (issue 19), so each threshold is a rule over a
``Machine`` description, read once on first use and cached:

====================  ==========================================================================
``chunk_bytes``       conv chunks (``kernels/conv.py``): the last-level cache's share per CPU,
                      rounded down to a power of two, within 4-16 MB
``block_bytes``       BatchNorm blocks (``kernels/batchnorm.py``): 2 MB, or the per-CPU cache
                      (L2 + last-level share) if smaller
``fold_width``        BatchNorm rows (``kernels/batchnorm.py``): NumPy's ufunc buffer, in values
``tap_major_bytes``   im2col gather order (``kernels/conv.py``): the cache line
``small_product``     thin GEMMs in blocks (``runtime/threads.py``): 100^3 where OpenBLAS has
                      its small-matrix kernels (SkylakeX-class AVX-512 builds), else 0 (off)
====================  ==========================================================================

Overrides: an environment variable ``SCRATCHGRAD_<NAME>`` (``SCRATCHGRAD_CHUNK_BYTES=8388608``),
read on first use, or the kernel module's attribute (``scratchgrad.kernels.conv.CHUNK_BYTES``),
which wins when set. Every rule depends on the machine only, never on the thread count, so
results stay the same whatever ``set_num_threads`` says (see ``threads.py``).
"""
from __future__ import annotations

import dataclasses
import functools
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import numpy as np

CPU_ROOT = Path("/sys/devices/system/cpu")
MB = 1 << 20
# Where nothing can be read, the values of the host the kernels were tuned on (benchmarks/README.md).
FALLBACK_L2 = 1 * MB
FALLBACK_LLC_PER_CPU = 16 * MB
FALLBACK_LINE = 64
# OpenBLAS (0.3.31) multiplies products of at most 100^3 multiply-adds in place, unpacked, only
# in these kernels (AVX-512; threadpoolctl's "architecture", lower case).
SMALL_KERNEL_ARCHITECTURES = frozenset({"skylakex", "cooperlake", "sapphirerapids"})
SMALL_KERNEL_LIMIT = 100**3
BLOCK_BYTES_MOST = 2 * MB  # BatchNorm: enough work per block to outweigh its Python (see batchnorm.py)
CHUNK_BYTES_RANGE = (4 * MB, 16 * MB)  # measured up to 16 MB (8 -> 16: 1-4% faster steps)


@dataclass(frozen=True)
class Machine:
    """What the thresholds depend on.

    Attributes:
        cpus: the CPUs this process may run on.
        l2_bytes: a core's L2 cache.
        llc_bytes_per_cpu: the last-level cache divided by the CPUs that share it.
        line_bytes: the cache line.
        blas: the BLAS library (threadpoolctl's ``internal_api``: "openblas", "mkl", ...), "" if unknown.
        blas_architecture: its kernel family ("SkylakeX", "Haswell", "Zen", ...), "" if unknown.
        buffer_values: NumPy's ufunc buffer (``np.getbufsize()``), in values.
    """

    cpus: int
    l2_bytes: int
    llc_bytes_per_cpu: int
    line_bytes: int
    blas: str
    blas_architecture: str
    buffer_values: int


@dataclass(frozen=True)
class Thresholds:
    """The sizes the kernels cut their work by (see the module's docstring for each rule)."""

    chunk_bytes: int
    block_bytes: int
    fold_width: int
    tap_major_bytes: int
    small_product: int


def rules(machine: Machine) -> Thresholds:
    """The thresholds for ``machine``."""
    low, high = CHUNK_BYTES_RANGE
    return Thresholds(
        # a chunk's intermediate data (transform-domain tiles, im2col rows) stays in the cache a core can count on
        chunk_bytes=min(high, max(low, _power_of_two_below(machine.llc_bytes_per_cpu))),
        block_bytes=min(BLOCK_BYTES_MOST, machine.l2_bytes + machine.llc_bytes_per_cpu),
        # NumPy runs an op ~2x slower on runs (or broadcast rows) shorter than its buffer
        fold_width=machine.buffer_values,
        # gather runs shorter than a cache line write partial lines
        tap_major_bytes=machine.line_bytes,
        # elsewhere every product is packed whatever its size: blocks would only add calls
        small_product=SMALL_KERNEL_LIMIT if machine.blas == "openblas"
        and machine.blas_architecture.lower() in SMALL_KERNEL_ARCHITECTURES else 0,
    )


@functools.cache
def this_machine() -> Machine:
    """This machine's description (read once)."""
    return describe()


@functools.cache
def thresholds() -> Thresholds:
    """This machine's thresholds, with the ``SCRATCHGRAD_<NAME>`` environment overrides (read once)."""
    derived = rules(this_machine())
    overrides = {}
    for field in dataclasses.fields(Thresholds):
        variable = f"SCRATCHGRAD_{field.name.upper()}"
        if variable in os.environ:
            overrides[field.name] = _env_int(variable, os.environ[variable])
    return dataclasses.replace(derived, **overrides)


def value(name: str, override: int | None) -> int:
    """``override`` (a kernel module's setting) when it is set, else this machine's threshold ``name``."""
    return getattr(thresholds(), name) if override is None else override


def available_cores() -> int:
    """The CPUs this process may run on (its affinity), at least 1."""
    if hasattr(os, "sched_getaffinity"):
        return max(1, len(os.sched_getaffinity(0)))
    return os.cpu_count() or 1


def describe(cpu_root: Path = CPU_ROOT, sysconf: Callable[[str], int] = os.sysconf,
             blas: Callable[[], tuple[str, str]] | None = None) -> Machine:
    """This machine: caches from ``cpu_root`` (Linux sysfs), else ``sysconf`` (glibc), else the
    tuning host's sizes (``FALLBACK_*``); the BLAS from threadpoolctl (or ``blas()``)."""
    caches = _sysfs_caches(cpu_root) or _sysconf_caches(sysconf)
    l2 = caches.get("l2") or FALLBACK_L2
    llc = caches.get("llc") or FALLBACK_LLC_PER_CPU
    name, architecture = (blas or _blas)()
    return Machine(cpus=available_cores(), l2_bytes=l2, llc_bytes_per_cpu=llc,
                   line_bytes=caches.get("line") or FALLBACK_LINE, blas=name, blas_architecture=architecture,
                   buffer_values=np.getbufsize())


def _sysfs_caches(cpu_root: Path) -> dict[str, int]:
    """cpu0's L2, last-level share per CPU and line size from ``cpu_root/cpu0/cache/index*``; {} if unreadable."""
    found = []  # (level, bytes, CPUs sharing it, line bytes) of each data or unified cache
    for index in sorted((cpu_root / "cpu0" / "cache").glob("index*")):
        try:
            kind, level, size = (index / "type").read_text().strip(), int((index / "level").read_text()), \
                _size_bytes((index / "size").read_text())
        except (OSError, ValueError):
            continue
        if kind in ("Data", "Unified"):
            sharing = _read(index / "shared_cpu_list", _cpu_count, 1)
            found.append((level, size, sharing, _read(index / "coherency_line_size", int, FALLBACK_LINE)))
    if not found:
        return {}
    _, last_size, last_sharing, _ = max(found)
    caches = {"llc": last_size // max(last_sharing, 1), "line": min(entry[3] for entry in found)}
    caches.update({"l2": size for level, size, _, _ in found if level == 2})
    return caches


def _read(path: Path, parse: Callable[[str], int], default: int) -> int:
    try:
        return parse(path.read_text())
    except (OSError, ValueError):
        return default


def _sysconf_caches(sysconf: Callable[[str], int]) -> dict[str, int]:
    """The same from glibc's sysconf (no sharing information: the last level is divided by the CPUs)."""
    def read(name: str) -> int:
        try:
            return max(0, int(sysconf(name)))
        except (ValueError, OSError):
            return 0

    l2, l3 = read("SC_LEVEL2_CACHE_SIZE"), read("SC_LEVEL3_CACHE_SIZE")
    llc = l3 // (os.cpu_count() or 1) if l3 else l2
    return {key: number for key, number in (("l2", l2), ("llc", llc), ("line", read("SC_LEVEL1_DCACHE_LINESIZE")))
            if number}


def _blas() -> tuple[str, str]:
    """NumPy's BLAS and its kernel family, as threadpoolctl reports them; ("", "") if unknown."""
    try:
        from threadpoolctl import threadpool_info
    except ImportError:
        return "", ""
    libraries = [info for info in threadpool_info() if info.get("user_api") == "blas"]
    if not libraries:
        return "", ""
    return libraries[0].get("internal_api", ""), libraries[0].get("architecture") or ""


def _size_bytes(text: str) -> int:
    """sysfs's "512K", "32768K", "1M" (or plain bytes) in bytes."""
    text = text.strip().upper()
    scale = {"K": 1 << 10, "M": 1 << 20, "G": 1 << 30}.get(text[-1:], 1)
    return int(text.rstrip("KMG")) * scale


def _cpu_count(text: str) -> int:
    """The number of CPUs in a sysfs list such as "0-3,8-11"."""
    count = 0
    for part in text.strip().split(","):
        first, _, last = part.partition("-")
        count += int(last or first) - int(first) + 1
    return count


def _power_of_two_below(number: int) -> int:
    return 1 << (max(number, 1).bit_length() - 1)


def _env_int(variable: str, text: str) -> int:
    try:
        number = int(text)
    except ValueError:
        raise ValueError(f"{variable}: expected an integer >= 0, got {text!r}") from None
    if number < 0:
        raise ValueError(f"{variable}: expected an integer >= 0, got {text!r}")
    return number


def summary() -> dict[str, Any]:
    """This machine's description and thresholds, for benchmark records."""
    return {"machine": dataclasses.asdict(this_machine()), "thresholds": dataclasses.asdict(thresholds())}
