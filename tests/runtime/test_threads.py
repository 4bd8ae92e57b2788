"""threads.matmul and threads.summed_matmul: split over the cores and into blocks that BLAS
multiplies directly, the same products as one ``np.matmul``."""
from __future__ import annotations

import os
import signal
import threading

import numpy as np
import pytest

from scratchgrad.runtime import threads, workers


@pytest.mark.parametrize("length, other_dims, expected", [
    (1000, 10**4, 100),  # 10 equal blocks of the 100 rows allowed
    (1000, 3 * 10**3, 250),  # at most 333 rows allowed: 4 equal blocks
    (300, 10**3, 300),  # within the limit already
    (1000, 10**5, 1000),  # blocks of 10 rows would be too short: one product
])
def test_small_block(length, other_dims, expected, monkeypatch):
    monkeypatch.setattr(threads, "SMALL_PRODUCT", 100**3)  # OpenBLAS's AVX-512 limit (the machine's: runtime/machine.py)
    assert threads.small_block(other_dims, length) == expected


def _operands(rng, a_shape, b_shape, a_transposed):
    a = rng.standard_normal(a_shape)
    if a_transposed:  # the same values, stored column by column
        a = np.ascontiguousarray(np.swapaxes(a, -1, -2)).swapaxes(-1, -2)
    return a, rng.standard_normal(b_shape)


@pytest.mark.parametrize("a_transposed", [False, True])
@pytest.mark.parametrize("a_shape, b_shape", [
    ((4, 300, 8), (4, 8, 6)),  # a stack (Winograd's products)
    ((300, 8), (8, 6)),  # one product, split by rows over the cores
    ((5, 8), (8, 300)),  # few rows: split by columns
    ((3, 1, 40, 8), (2, 8, 6)),  # broadcast batch dims
])
def test_matmul_in_blocks_is_numpys_product_whatever_the_number_of_threads(a_shape, b_shape, a_transposed, monkeypatch):
    monkeypatch.setattr(threads, "MIN_PARALLEL_FLOPS", 0)
    monkeypatch.setattr(threads, "AUTOTUNE", False)  # every call on the pool, none timed
    monkeypatch.setattr(threads, "MIN_BLOCK_ROWS", 2)
    monkeypatch.setattr(threads, "MIN_SMALL_ROWS", 1)
    monkeypatch.setattr(threads, "SMALL_PRODUCT", 7 * 8 * 6)  # blocks of 7 rows
    rows_seen = []
    real_matmul = np.matmul
    monkeypatch.setattr(threads.np, "matmul", lambda a, b, **kw: rows_seen.append(a.shape[-2]) or real_matmul(a, b, **kw))
    a, b = _operands(np.random.default_rng(0), a_shape, b_shape, a_transposed)
    results = []
    for count in (1, 2, 3):
        monkeypatch.setattr(threads, "num_threads", lambda: count)
        results.append(threads.matmul(np, a, b))
        np.testing.assert_array_equal(results[-1], results[0])
    expected = real_matmul(a, b)
    np.testing.assert_allclose(results[0], expected, rtol=1e-13, atol=1e-13 * np.abs(expected).max())
    if len(a_shape) == 3:  # (split over the cores by matrix) blocks of 7 rows where a is stored by rows, else whole
        assert max(rows_seen) == (300 if a_transposed else 7)


@pytest.mark.parametrize("threads_count", [1, 2])
@pytest.mark.parametrize("a_transposed", [False, True])
def test_summed_matmul_adds_the_products_of_blocks_in_order(a_transposed, threads_count, monkeypatch):
    monkeypatch.setattr(threads, "num_threads", lambda: threads_count)  # 2: a stack of 4 split over the cores
    monkeypatch.setattr(threads, "MIN_PARALLEL_FLOPS", 0)
    monkeypatch.setattr(threads, "AUTOTUNE", False)  # every call on the pool, none timed
    monkeypatch.setattr(threads, "MIN_SMALL_ROWS", 1)
    monkeypatch.setattr(threads, "SMALL_PRODUCT", 6 * 5 * 100)  # blocks of 100 of the 1000 summed positions
    a, b = _operands(np.random.default_rng(1), (4, 6, 1000), (4, 1000, 5), a_transposed)
    expected = sum(np.matmul(a[..., k : k + 100], b[..., k : k + 100, :]) for k in range(0, 1000, 100))
    result = threads.summed_matmul(np, a, b)
    np.testing.assert_array_equal(result, expected)  # the same sums in the same order
    np.testing.assert_allclose(result, np.matmul(a, b), rtol=1e-12, atol=1e-12 * np.abs(expected).max())


def test_blas_runs_on_one_thread_inside_chunks_and_as_before_after(monkeypatch):
    from threadpoolctl import threadpool_info, threadpool_limits

    blas_threads = lambda: [lib["num_threads"] for lib in threadpool_info() if lib["user_api"] == "blas"]  # noqa: E731
    monkeypatch.setattr(threads, "num_threads", lambda: 2)
    with threadpool_limits(2, "blas"):
        before = blas_threads()
        seen = threads.run_chunks(np, range(4), lambda k: threads.run_chunks(np, range(2), lambda j: blas_threads(), lambda a, b: a + b),
                                  lambda a, b: a + b)
        assert all(count == 1 for count in seen)  # in the tasks, nested calls included
        assert blas_threads() == before


@pytest.mark.parametrize("shape", [(), (3,), (4, 5)])
def test_elementwise_takes_every_shape_once_the_pool_serves_any_size(shape, monkeypatch):
    """Scalars (0-dim arrays) included: they have no axis to split."""
    monkeypatch.setattr(threads, "MIN_PARALLEL_BYTES", 0)
    monkeypatch.setattr(threads, "AUTOTUNE", False)  # every call on the pool, none timed
    monkeypatch.setattr(threads, "num_threads", lambda: 2)
    a, b = np.full(shape, 3.0), np.full(shape, 2.0)
    np.testing.assert_array_equal(threads.elementwise(np, np.subtract, a, b), np.ones(shape))


# ------------------------------------------------------------------ _concurrently (AUTOTUNE)
@pytest.mark.parametrize("pool_faster", [True, False])
def test_autotune_times_both_modes_then_keeps_the_faster(pool_faster, monkeypatch):
    """One untimed call alone, TRIALS calls in each mode alternated, then the faster mode only."""
    now, modes = [0.0], []

    def timed_share(tasks, helpers=None):  # a clock on which the pool takes 1 s, alone 2 s (or the reverse)
        alone = helpers == 0
        modes.append("alone" if alone else "pool")
        now[0] += (2.0 if alone else 1.0) if pool_faster else (1.0 if alone else 2.0)
        return [task() for task in tasks]

    monkeypatch.setattr(threads, "_share", timed_share)
    monkeypatch.setattr(threads, "_clock", lambda: now[0])
    monkeypatch.setattr(threads, "_choices", {})
    trials = threads.TRIALS
    for _ in range(1 + 2 * trials + 4):
        assert threads._concurrently("site", [lambda: 1, lambda: 2]) == [1, 2]
    assert modes[: 1 + 2 * trials] == ["alone"] + ["alone", "pool"] * trials
    assert modes[1 + 2 * trials :] == ["pool" if pool_faster else "alone"] * 4
    threads._concurrently("another site", [lambda: 1, lambda: 2])  # a new key starts its own trials
    assert modes[-1] == "alone" and len(threads._choices) == 2


def test_both_modes_run_the_tasks_as_pool_tasks_with_the_same_results(monkeypatch):
    """Alone, the tasks still run as pool tasks (nested kernels inline, as on the pool), so the
    blocks and the results do not depend on the choice."""
    monkeypatch.setattr(threads, "num_threads", lambda: 2)
    seen = {}
    for helpers in (0, None):
        def task(k, helpers=helpers):
            seen.setdefault(helpers, set()).add(threading.get_ident())
            return k * k, threads._in_pool()

        assert threads._share([lambda k=k: task(k) for k in range(64)], helpers=helpers) == [(k * k, True) for k in range(64)]
    assert seen[0] == {threading.get_ident()} and not threads._in_pool()
    a, b = np.random.default_rng(0).standard_normal((2, 512, 512))
    monkeypatch.setattr(threads, "_choices", {})
    products = [threads.matmul(np, a, b) for _ in range(2 + 2 * threads.TRIALS)]  # warm-up, trials, choice
    for product in products[1:]:
        np.testing.assert_array_equal(product, products[0])


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
def test_a_forked_child_makes_its_own_pool(monkeypatch):
    """The parent's pool threads are not copied by fork: the child must not wait on them."""
    monkeypatch.setattr(threads, "num_threads", lambda: 2)
    assert threads._share([lambda: 1, lambda: 2]) == [1, 2]  # the parent's pool exists
    pid = os.fork()
    if pid == 0:  # the child: exit 0 only if the pool answers within 10 s
        signal.alarm(10)
        ok = threads._share([lambda: 1, lambda: 2]) == [1, 2] and workers._threads_pool is not None
        os._exit(0 if ok else 1)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0


def test_concurrent_shares_from_two_threads_both_finish(monkeypatch):
    """One caller has the pool's threads; one that comes while they are taken runs its tasks alone."""
    monkeypatch.setattr(threads, "num_threads", lambda: 2)
    release, results = threading.Event(), {}

    def slow_share(name):
        results[name] = threads._share([lambda: release.wait(10) and name, lambda: name])

    first = threading.Thread(target=slow_share, args=("first",))
    first.start()
    second = threading.Thread(target=slow_share, args=("second",))
    second.start()
    release.set()
    first.join(10), second.join(10)
    assert results == {"first": ["first", "first"], "second": ["second", "second"]}


def test_the_benchmarks_warm_up_until_autotune_has_chosen():
    """engine_vs_torch (and compare_versions, which uses its ``alternate``) must not time trial steps."""
    import importlib.util
    from pathlib import Path

    path = Path(__file__).resolve().parents[2] / "benchmarks" / "engine_vs_torch.py"
    spec = importlib.util.spec_from_file_location("engine_vs_torch", path)
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    assert bench.WARMUP_STEPS >= 1 + 2 * threads.TRIALS
