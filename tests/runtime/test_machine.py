"""runtime/machine.py: the thresholds' rules on described machines, reading the machine (sysfs,
sysconf, fallbacks), the overrides, and the kernels reading their sizes from it."""
from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from scratchgrad.kernels import batchnorm
from scratchgrad.kernels import conv as conv_kernels
from scratchgrad.runtime import machine, threads

MB = 1 << 20
TODAY = {"chunk_bytes": 16 * MB, "block_bytes": 2 * MB, "fold_width": 8192, "tap_major_bytes": 64}


def _machine(**fields) -> machine.Machine:
    base = dict(cpus=2, l2_bytes=MB, llc_bytes_per_cpu=16 * MB, line_bytes=64, blas="openblas",
                blas_architecture="SkylakeX", buffer_values=8192)
    return machine.Machine(**{**base, **fields})


@pytest.mark.parametrize("described, expected", [
    # the tuning host (2 cores of an EPYC Zen 4 with AVX-512: 1 MB L2, 32 MB L3 for 2 CPUs)
    (_machine(blas_architecture="Cooperlake"), dict(TODAY, small_product=100**3)),
    # issue 19's Xeon (SkylakeX kernels; a 2-CPU share of a large L3: the chunks stay at 16 MB)
    (_machine(l2_bytes=2 * MB, llc_bytes_per_cpu=52 * MB), dict(TODAY, small_product=100**3)),
    # this session's EPYC (Zen 3, no AVX-512: OpenBLAS's Haswell kernels pack every product)
    (_machine(l2_bytes=512 << 10, blas_architecture="Haswell"), dict(TODAY, small_product=0)),
    # 8 cores sharing 16 MB: 2 MB each, chunks at the 4 MB floor
    (_machine(cpus=8, l2_bytes=512 << 10, llc_bytes_per_cpu=2 * MB, blas_architecture="Zen"),
     dict(TODAY, chunk_bytes=4 * MB, small_product=0)),
    # 128-byte lines and a small shared cache (an ARM laptop), another BLAS, a larger NumPy buffer
    (_machine(l2_bytes=0, llc_bytes_per_cpu=1 * MB, line_bytes=128, blas="mkl", blas_architecture="",
              buffer_values=16384),
     dict(chunk_bytes=4 * MB, block_bytes=1 * MB, fold_width=16384, tap_major_bytes=128, small_product=0)),
    # a 6 MB share rounds down to 4 MB
    (_machine(llc_bytes_per_cpu=6 * MB), dict(TODAY, chunk_bytes=4 * MB, small_product=100**3)),
])
def test_rules(described, expected):
    assert dataclasses.asdict(machine.rules(described)) == expected


def _cache(root, index, level, kind, size, shared="0", line="64"):
    folder = root / "cpu0" / "cache" / f"index{index}"
    folder.mkdir(parents=True)
    files = {"level": str(level), "type": kind, "size": size, "shared_cpu_list": shared, "coherency_line_size": line}
    for name, text in files.items():
        if text is not None:
            (folder / name).write_text(text + "\n")


def _no_sysconf(name):
    raise ValueError(name)


def test_describe_reads_sysfs(tmp_path):
    _cache(tmp_path, 0, 1, "Data", "32K")
    _cache(tmp_path, 1, 1, "Instruction", "32K", line="128")  # not a data cache: ignored
    _cache(tmp_path, 2, 2, "Unified", "512K")
    _cache(tmp_path, 3, 3, "Unified", "32768K", shared="0-1,4-5")
    described = machine.describe(tmp_path, _no_sysconf, lambda: ("openblas", "Haswell"))
    assert (described.l2_bytes, described.llc_bytes_per_cpu, described.line_bytes) == (512 << 10, 8 * MB, 64)
    assert (described.blas, described.blas_architecture) == ("openblas", "Haswell")
    assert described.buffer_values == np.getbufsize()


def test_describe_without_l3_or_sharing_lists(tmp_path):
    _cache(tmp_path, 0, 1, "Data", "64K", shared=None, line="128")
    _cache(tmp_path, 1, 2, "Unified", "4M", shared=None, line=None)  # the last level; no sharing list: one CPU
    described = machine.describe(tmp_path, _no_sysconf, lambda: ("", ""))
    assert (described.l2_bytes, described.llc_bytes_per_cpu, described.line_bytes) == (4 * MB, 4 * MB, 64)


def test_describe_without_sysfs_uses_sysconf_then_the_tuning_hosts_sizes(tmp_path, monkeypatch):
    absent = tmp_path / "no-sys"
    described = machine.describe(absent, _no_sysconf, lambda: ("", ""))
    assert (described.l2_bytes, described.llc_bytes_per_cpu, described.line_bytes) == (
        machine.FALLBACK_L2, machine.FALLBACK_LLC_PER_CPU, machine.FALLBACK_LINE)
    assert dataclasses.asdict(machine.rules(described)) == dict(TODAY, small_product=0)

    monkeypatch.setattr(machine.os, "cpu_count", lambda: 4)
    values = {"SC_LEVEL2_CACHE_SIZE": 2 * MB, "SC_LEVEL3_CACHE_SIZE": 32 * MB, "SC_LEVEL1_DCACHE_LINESIZE": 0}
    described = machine.describe(absent, values.__getitem__, lambda: ("", ""))
    assert (described.l2_bytes, described.llc_bytes_per_cpu, described.line_bytes) == (2 * MB, 8 * MB, 64)


@pytest.fixture
def fresh_thresholds():
    machine.thresholds.cache_clear()
    yield
    machine.thresholds.cache_clear()


def test_environment_overrides(monkeypatch, fresh_thresholds):
    monkeypatch.setenv("SCRATCHGRAD_CHUNK_BYTES", "1234")
    monkeypatch.setenv("SCRATCHGRAD_SMALL_PRODUCT", "0")
    assert (machine.thresholds().chunk_bytes, machine.thresholds().small_product) == (1234, 0)
    assert machine.thresholds().fold_width == machine.rules(machine.this_machine()).fold_width
    machine.thresholds.cache_clear()
    monkeypatch.setenv("SCRATCHGRAD_CHUNK_BYTES", "16M")
    with pytest.raises(ValueError, match="SCRATCHGRAD_CHUNK_BYTES: expected an integer >= 0, got '16M'"):
        machine.thresholds()


def test_kernels_take_their_sizes_from_the_machine_unless_set(monkeypatch):
    sizes = machine.Thresholds(chunk_bytes=4 * MB, block_bytes=2 * MB, fold_width=256, tap_major_bytes=64,
                               small_product=0)
    monkeypatch.setattr(machine, "thresholds", lambda: sizes)
    assert conv_kernels._chunks_of(np, 64, MB)[0] == slice(0, 4)  # 4 MB of 1 MB images
    monkeypatch.setattr(conv_kernels, "CHUNK_BYTES", 8 * MB)  # the module's setting wins
    assert conv_kernels._chunks_of(np, 64, MB)[0] == slice(0, 8)
    x = np.zeros((64, 8, 4, 4), np.float32).transpose(0, 2, 3, 1).copy().transpose(0, 3, 1, 2)  # channels last
    assert batchnorm.ChannelMatrix(x).matrix.shape[1] == 256  # folded to fold_width values a row
    assert threads.small_block(10**4, 1000) == 1000  # no small-matrix kernels: one product
    monkeypatch.setattr(threads, "SMALL_PRODUCT", 100**3)
    assert threads.small_block(10**4, 1000) == 100


def test_available_cores_is_the_affinity():
    expected = len(machine.os.sched_getaffinity(0)) if hasattr(machine.os, "sched_getaffinity") else None
    assert machine.available_cores() == (expected or machine.os.cpu_count())
